"""The rate backend: exact ledgers, sequential equivalence, gradients, restrictions and caching."""
import math

import numpy as np
import pytest

from spikegate.errors import ConfigError, ParameterError
from spikegate.model import make_gate
from spikegate.backends.rate.classifier import (RateClassifier, margins, path_subset_masks, random_masks_like,
                                               top_fraction_mask)
from spikegate.model import RateSpec, Restriction, SynapticCaching

from conftest import tiny_dataset


def _bank(n=120, n_pixels=16, n_classes=3, seed=0):
    ds = tiny_dataset(n_train=n, n_test=20, n_pixels=n_pixels, n_classes=n_classes, seed=seed)
    return np.vstack([ds.x_train, ds.x_test]), ds.y_train, ds.x_train.mean(0)


def _clf(gate="lazy", layers=(16, 12, 3), max_block=512, **kw):
    images, labels, mean = _bank(n_classes=layers[-1])
    spec = RateSpec(layers=layers, dtype="float64", eta=0.05, sigma=0.2, **kw.pop("spec", {}))
    return RateClassifier(spec, make_gate(gate), images, seed=4, mean=mean, max_block=max_block, **kw), labels


@pytest.mark.parametrize("gate", ["always", "lazy", "memorized"])
def test_ledger_matches_an_independent_weight_diff(gate):
    clf, labels = _clf(gate)
    ref, _ = _clf(gate, max_block=1)
    log = clf.present(np.arange(120), labels)
    writes, m1, opened = [], [], []
    for i in range(120):  # the same learning, one presentation per call, diffing the weights
        before = [ref.weights(k) for k in range(2)]
        step = ref.present([i], labels[i:i + 1])
        after = [ref.weights(k) for k in range(2)]
        writes.append([np.count_nonzero(a != b) for a, b in zip(after, before)])
        m1.append([np.abs(a - b).sum() for a, b in zip(after, before)])
        opened.append(step.gate_open[0])
    np.testing.assert_array_equal(log.gate_open, opened)
    np.testing.assert_array_equal(log.writes, writes)
    np.testing.assert_allclose(log.sum_abs_dw, m1, rtol=1e-9, atol=1e-15)
    assert log.gate_open.sum() > 5 and log.writes.sum() > 100
    if gate == "always":
        assert log.gate_open.all()
    else:
        assert not log.gate_open.all()


def _sequential_and_blocked(gate, layers=(16, 12, 3), dtype="float64", output="linear_mse", n=600, **kw):
    """The same training run twice: the literal per-sample loop and the blocked path."""
    ds = tiny_dataset(n_train=n, n_test=10, n_pixels=layers[0], n_classes=layers[-1], seed=5)
    spec = RateSpec(layers=layers, dtype=dtype, output=output, eta=0.05, sigma=0.2)
    order = np.concatenate([np.random.default_rng(s).permutation(n) for s in (0, 1)])  # two epochs
    memgate = np.random.default_rng(2).random(len(order)) < 0.05
    runs = []
    for max_block in (1, 512):
        clf = RateClassifier(spec, make_gate(gate, min_margin=kw.get("min_margin")), ds.x_train, seed=4,
                             mean=ds.x_train.mean(0), max_block=max_block, max_pending=kw.get("max_pending", 32),
                             exact_openings=kw.get("exact_openings", True))
        if "decision_tolerance" in kw:
            clf.decision_tolerance = kw["decision_tolerance"]
        runs.append((clf, clf.present(order, ds.y_train[order], memgate)))
    return runs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("gate, layers, output, min_margin", [
    ("lazy", (16, 12, 3), "linear_mse", None),
    ("memorized", (16, 12, 3), "softmax_ce", None),
    ("margin", (16, 12, 8, 3), "softmax_ce", 3),
    ("lazy", (16, 3), "linear_mse", None),
])
def test_blocked_forward_passes_equal_the_sequential_loop_bit_for_bit(dtype, gate, layers, output, min_margin):
    (seq, ls), (blk, lb) = _sequential_and_blocked(gate, layers, dtype, output, min_margin=min_margin, max_pending=8)
    assert 50 < lb.gate_open.sum() < len(lb.gate_open) - 50   # many corrections inside blocks, many closed
    for field in ("gate_open", "mistake", "writes", "sum_abs_dw", "sum_abs_dw_alpha"):
        np.testing.assert_array_equal(getattr(lb, field), getattr(ls, field), err_msg=field)
    for k in range(len(layers) - 1):
        np.testing.assert_array_equal(blk.W[k], seq.W[k])
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(lb.outputs, ls.outputs, rtol=0, atol=1e3 * eps)   # logged outputs: rounding only
    # few forward passes thrown away: n rows, one exact pass per opening, a few block tails
    assert blk.forward_rows < 1.15 * len(lb.gate_open) + lb.gate_open.sum()


def test_corrected_openings_equal_the_sequential_loop_up_to_rounding():
    (seq, ls), (fast, lf) = _sequential_and_blocked("lazy", exact_openings=False)
    np.testing.assert_array_equal(lf.gate_open, ls.gate_open)
    assert fast.forward_rows < 1.15 * len(lf.gate_open)          # no exact one-row pass per opening
    for k in range(2):
        np.testing.assert_allclose(fast.W[k], seq.W[k], rtol=0, atol=1e-12)


def test_block_parameters_are_validated():
    with pytest.raises(ParameterError, match="max_pending = 0"):
        _clf(max_pending=0)


def test_decision_guard_recomputes_rows_near_the_threshold_exactly():
    (seq, ls), (blk, lb) = _sequential_and_blocked("lazy", decision_tolerance=np.inf)
    # every row is "near": each is recomputed by the exact one-row pass, results unchanged
    assert blk.forward_rows >= 2 * len(lb.gate_open)
    np.testing.assert_array_equal(lb.outputs, ls.outputs)
    np.testing.assert_array_equal(blk.W[0], seq.W[0])


def test_closed_gate_writes_nothing_and_skips_the_backward_pass():
    clf, labels = _clf("lazy")
    calls = []
    original = clf.deltas_of
    clf.deltas_of = lambda *args: calls.append(1) or original(*args)
    log = clf.present(np.arange(120), labels)
    assert len(calls) == log.gate_open.sum() > 0
    assert (log.writes[~log.gate_open] == 0).all() and (log.sum_abs_dw[~log.gate_open] == 0).all()
    assert (log.writes[log.gate_open].sum(axis=1) > 0).all()


@pytest.mark.parametrize("output", ["linear_mse", "softmax_ce"])
@pytest.mark.parametrize("hidden", ["leaky_relu", "sigmoid"])
def test_update_is_minus_lr_times_the_numerical_gradient(output, hidden):
    clf, labels = _clf("always", layers=(16, 7, 5, 3), spec={"output": output, "hidden": hidden})
    x, y = clf.images[:1], labels[:1]

    def loss():
        out = clf.forward_pass(x)[2][0]
        t = np.eye(3)[y[0]]
        return 0.5 * ((out - t) ** 2).sum() if output == "linear_mse" else -math.log(out[y[0]])

    grads = []
    for W in clf.W:
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + 1e-6
            up = loss()
            W[idx] = old - 1e-6
            down = loss()
            W[idx] = old
            g[idx] = (up - down) / 2e-6
        grads.append(g)
    before = [clf.weights(k) for k in range(3)]
    clf.present([0], y)
    for k in range(3):
        np.testing.assert_allclose(clf.weights(k) - before[k], -0.05 * grads[k], rtol=1e-5, atol=1e-9)


def test_minibatch_write_is_the_mean_of_gated_updates():
    clf, labels = _clf("always", spec={"batch_size": 4})
    ref, _ = _clf("always")
    before = [ref.weights(k) for k in range(2)]
    total = [np.zeros_like(w) for w in before]
    for i in range(4):  # independent: each sample's update from the same starting weights
        for k in range(2):
            ref.set_weights(k, before[k])
        ref.present([i], labels[i:i + 1])
        for k in range(2):
            total[k] += ref.weights(k) - before[k]
    log = clf.present(np.arange(4), labels[:4])
    for k in range(2):
        np.testing.assert_allclose(clf.weights(k) - before[k], total[k] / 4, atol=1e-12)
    assert (log.writes[:3] == 0).all() and (log.writes[3] == [w.size for w in before]).all()


def test_top_fraction_keeps_exactly_round_p_n_entries():
    rng = np.random.default_rng(1)
    dw = rng.normal(size=(10, 37))
    for p in (0.01, 0.1, 0.333, 0.5, 1.0):
        mask = top_fraction_mask(dw, p, "layer")
        assert mask.sum() == round(p * dw.size)
        assert np.abs(dw[mask]).min() >= np.abs(dw[~mask]).max(initial=0)
        rows = top_fraction_mask(dw, p, "neuron")
        assert (rows.sum(axis=1) == round(p * 37)).all()
        rand = top_fraction_mask(dw, p, "layer", rng=np.random.default_rng(2))
        assert rand.sum() == round(p * dw.size)
    plastic = rng.random(dw.shape) < 0.3
    mask = top_fraction_mask(dw, 0.2, "layer", plastic)
    assert mask.sum() == round(0.2 * plastic.sum()) and not (mask & ~plastic).any()


def test_subset_masks_touch_only_the_chosen_units():
    layers = (16, 12, 8, 3)
    masks = path_subset_masks(layers, 4, np.random.default_rng(0))
    rows1 = np.flatnonzero(masks[0].any(axis=1))
    assert len(rows1) == 4 and masks[0][rows1].all()          # all inputs + bias into 4 chosen units
    assert masks[1].sum() == 4 * (4 + 1)                       # chosen -> chosen, plus bias
    assert set(np.flatnonzero(masks[1][:, :-1].any(axis=0))) == set(rows1)
    assert masks[2].sum() == 3 * (4 + 1)                       # chosen last-hidden (and bias) -> outputs
    ctrl = random_masks_like(masks, np.random.default_rng(1))
    assert [m.sum() for m in ctrl] == [m.sum() for m in masks]
    clf, labels = _clf("always", restriction=Restriction(subset=4))
    before = [clf.weights(k) for k in range(2)]
    clf.present(np.arange(60), labels[:60])
    for k in range(2):
        changed = clf.weights(k) != before[k]
        assert changed.any() and not (changed & ~clf.plastic[k]).any()
    with pytest.raises(ParameterError, match="smallest hidden layer"):
        path_subset_masks(layers, 9, np.random.default_rng(0))


def test_restricted_writes_count_the_kept_entries():
    clf, labels = _clf("always", restriction=Restriction(top_fraction=0.1))
    log = clf.present(np.arange(30), labels[:30])
    sizes = [w.size for w in clf.W]
    assert (log.writes == [round(0.1 * s) for s in sizes]).all()


def test_caching_cost_terms():
    caching = SynapticCaching(enabled=True, c=0.5, theta=0.03, tau=10.0)
    clf, labels = _clf("always", caching=caching)
    ref, _ = _clf("always")  # no caching: gives each presentation's plain update
    C = [clf.weights(k) for k in range(2)]
    T = [np.zeros_like(w) for w in C]
    decay = math.exp(-1 / 10)
    n = 40
    writes, size, maint, transient = (np.zeros((n, 2)) for _ in range(4))
    for i in range(n):  # independent bookkeeping of the two components
        for k in range(2):
            ref.set_weights(k, C[k] + T[k])
        ref.present([i], labels[i:i + 1])
        for k in range(2):
            dw = ref.weights(k) - (C[k] + T[k])
            transient[i, k] = np.count_nonzero(dw)
            T[k] = (T[k] + dw) * decay
            big = np.abs(T[k]) > 0.03
            writes[i, k], size[i, k] = big.sum(), np.abs(T[k][big]).sum()
            C[k] = C[k] + np.where(big, T[k], 0)
            T[k] = np.where(big, 0, T[k])
            maint[i, k] = 0.5 * np.abs(T[k]).sum()
    log = clf.present(np.arange(n), labels[:n])
    np.testing.assert_array_equal(log.transient_writes, transient)
    np.testing.assert_array_equal(log.writes, writes)
    np.testing.assert_allclose(log.sum_abs_dw, size, rtol=1e-9)
    np.testing.assert_allclose(log.maintenance, maint, rtol=1e-9)
    assert log.writes.sum() > 0 and log.maintenance.sum() > 0 and log.writes.sum() < transient.sum()
    for k in range(2):  # total weight = consolidated + transient
        np.testing.assert_allclose(clf.weights(k), C[k] + T[k], atol=1e-12)
        np.testing.assert_allclose(clf.transient[k], T[k], atol=1e-12)


def test_margins_and_mistakes():
    out = np.array([[0.1, 0.5, 0.2], [0.3, 0.3, 0.0], [0.9, 0.1, 0.2]])
    np.testing.assert_allclose(margins(out, np.array([1, 0, 0])), [0.3, 0.0, 0.7])  # a tie is margin 0: a mistake


@pytest.mark.parametrize("key,value,message", [
    ("rate.eta", -0.1, "rate.eta = -0.1: must be > 0"),
    ("rate.hidden", "tanh", "rate.hidden = 'tanh': unknown; allowed: leaky_relu, sigmoid"),
    ("restrict.top_fraction", 0, "restrict.top_fraction = 0: must be > 0 and <= 1"),
    ("caching.tau", -1, "caching.tau = -1: must be > 0"),
    ("network.dt", "1 ms", "network.dt: not used by backend 'rate'"),
    ("backend", "analog", "backend = 'analog': unknown; allowed: spiking, rate"),
])
def test_rate_config_errors_name_key_and_range(key, value, message):
    from spikegate.config import resolve

    model = {"backend": "rate", "data": {"source": "digits"}, "network": {"layers": [64, 10]}}
    with pytest.raises(ConfigError) as err:
        resolve(model, [(key, value)])
    assert message in str(err.value)


def test_cli_trains_and_evaluates_a_rate_model(tmp_path, capsys):
    from spikegate.cli import main

    out = tmp_path / "run"
    rc = main(["train", "models/digits-rate.toml", "--gate", "lazy", "--out", str(out), "--no-progress",
               "--set", "train.epochs=2"])
    assert rc == 0
    text = capsys.readouterr().out
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "rate" and metrics["test_accuracy"] > 0.9
    assert 0 < metrics["n_gated_presentations"] < metrics["n_presentations"]
    assert f"{metrics['test_accuracy']:.4f}" in text
    assert main(["evaluate", str(out), "--no-progress"]) == 0
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in capsys.readouterr().out


def test_margin_gate_opens_below_min_margin_minus_one_margin_steps():
    clf, _ = _clf("margin", spec={"margin_scale": 0.1})
    clf.gate = make_gate("margin", min_margin=3)            # open while margin < 0.2
    margin = np.array([-0.1, 0.0, 0.05, 0.19, 0.21, 1.0])
    mistake = ~(margin > 0)
    np.testing.assert_array_equal(clf._open(margin, mistake, np.zeros(6, bool)),
                                  [True, True, True, True, False, False])
    clf.gate = make_gate("lazy")                        # min_margin = 1: mistakes only
    np.testing.assert_array_equal(clf._open(margin, mistake, np.array([0, 0, 0, 0, 1, 0], bool)),
                                  [True, True, False, False, True, False])
