"""Finite-precision synapses and the random control gate: writes are changes of stored codes,
bits flipped are their Hamming distances, a frozen projection writes nothing, a coin opens at p."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, prefs

from spikegate import (Always, GatedClassifier, Lazy, ParameterError, Random, RateClassifier, RateSpec, SynapseFormat,
                       ThreeFactorRule)
from spikegate.config import resolve
from spikegate.errors import ConfigError
from spikegate.model.synapse import bit_flips, codes_of, quantize, weights_of, written_codes
from spikegate.training import train
from conftest import TINY_MODEL, tiny_dataset
from test_network import small_spec


# --------------------------------------------------------------------------- the pure functions
def test_codes_and_weights_round_trip_on_the_grid():
    bits, w_max = 5, 1.5
    codes = np.arange(2 ** bits)
    w = weights_of(codes, bits, w_max)
    assert w[0] == -w_max and w[16] == 0.0 and w[-1] == pytest.approx(w_max - w_max / 16)
    np.testing.assert_array_equal(codes_of(w, bits, w_max), codes)
    # off the grid: nearest rounding, clipped to the code range
    np.testing.assert_array_equal(quantize([0.04, 0.05, -9.0, 9.0], bits, w_max, 0.5), [16, 17, 0, 31])


def test_bit_flips_is_the_hamming_distance():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2 ** 12, 500), rng.integers(0, 2 ** 12, 500)
    expected = [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b)]
    np.testing.assert_array_equal(bit_flips(a, b), expected)


def test_stochastic_rounding_is_unbiased_and_a_zero_change_keeps_the_code():
    rng = np.random.default_rng(1)
    bits, w_max, n = 6, 4.0, 200_000
    step = w_max / 2 ** (bits - 1)
    old = np.full(n, 40)
    new = written_codes(old, 0.3 * step, bits, w_max, rng.random(n))
    mean_change = (new - old).mean()
    assert set(np.unique(new)) == {40, 41}
    assert abs(mean_change - 0.3) < 3 * np.sqrt(0.3 * 0.7 / n)        # E[change] = the proposed change
    np.testing.assert_array_equal(written_codes(old, 0.0, bits, w_max, rng.random(n)), old)
    np.testing.assert_array_equal(written_codes(old, 0.3 * step, bits, w_max, 0.5), old)   # nearest drops it


@pytest.mark.parametrize("kwargs, message", [
    ({"bits": 1}, "SynapseFormat.bits = 1: a code needs at least 2 bits"),
    ({"bits": 25}, "SynapseFormat.bits = 25: must be >= 0 and <= 24"),
    ({"bits": 4.5}, "SynapseFormat.bits"),
    ({"rounding": "up"}, "SynapseFormat.rounding = 'up': unknown; allowed: nearest, stochastic"),
    ({"w_max": 0}, "SynapseFormat.w_max = 0"),
])
def test_bad_synapse_formats_name_the_field(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(".", r"\.")):
        SynapseFormat(**kwargs)


def test_the_rate_backend_needs_the_codes_range():
    with pytest.raises(ConfigError, match="synapse.w_max = None: required with bits > 0 on the rate backend"):
        resolve("models/digits-rate.toml", ["synapse.bits=6"])
    assert resolve("models/digits-rate.toml", ["synapse.bits=6", "synapse.w_max=0.5"]).spec.synapse.bits == 6


def test_only_quantisation_and_rounding_enter_the_structure():
    spec = small_spec(synapse=SynapseFormat(bits=6))
    assert spec.structure() == small_spec(synapse=SynapseFormat(bits=12)).structure()
    assert spec.structure() != small_spec(synapse=SynapseFormat(bits=6, rounding="nearest")).structure()
    assert spec.structure() != small_spec().structure()


# --------------------------------------------------------------------------- the spiking backend
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_spiking_writes_and_bits_equal_the_changed_codes(rounding):
    """Per presentation and projection (runtime engine): writes == codes that changed, bits flipped ==
    their Hamming distances, sum |dw| == the stored weights' change; weights stay on the grid."""
    prefs.codegen.target = "numpy"
    b2.seed(5)
    ds = tiny_dataset(n_train=30)
    spec = small_spec(synapse=SynapseFormat(bits=6, rounding=rounding))
    w_max = spec.rule.w_max
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=5, chunk=4)
    writes = bits = 0
    for s in range(20):
        before = [clf.weights(k) for k in range(2)]
        log = clf.present([s], [ds.y_train[s]])
        for k in range(2):
            after = clf.weights(k)
            old, new = codes_of(before[k], 6, w_max), codes_of(after, 6, w_max)
            np.testing.assert_array_equal(weights_of(new, 6, w_max), after)
            assert log.writes[0, k] == np.count_nonzero(new != old)
            assert log.bits_flipped[0, k] == bit_flips(old, new).sum()
            assert log.sum_abs_dw[0, k] == pytest.approx(np.abs(after - before[k]).sum(), rel=1e-12)
            writes, bits = writes + log.writes[0, k], bits + log.bits_flipped[0, k]
    assert writes > 30 and bits > writes       # many writes checked, some flipping several bits


def test_a_frozen_projection_writes_nothing_on_either_backend():
    """A learning rate so small that no code changes: zero writes and zero bits flipped, where float
    synapses count every tiny change as a write."""
    prefs.codegen.target = "numpy"
    b2.seed(2)
    ds = tiny_dataset(n_train=20)
    frozen = ThreeFactorRule(eta=2 * Hz, eta_hidden=1e-9 * Hz, w_max=6.0)
    logs = {}
    for bits in (0, 8):
        clf = GatedClassifier(small_spec(rule=frozen, synapse=SynapseFormat(bits=bits)), Always(), ds.x_train,
                              seed=2, chunk=10)
        logs[bits] = clf.present(np.arange(20), ds.y_train[:20])
    assert logs[0].writes[:, 0].sum() > 0                       # float: every change of a double
    assert logs[8].writes[:, 0].sum() == 0 and logs[8].bits_flipped[:, 0].sum() == 0
    assert logs[8].writes[:, 1].sum() > 0 and logs[0].bits_flipped.sum() == 0   # float: bits not measured
    spec = RateSpec(layers=(16, 8, 3), eta=0.05, eta_hidden=1e-12, synapse=SynapseFormat(bits=8, w_max=0.5))
    log = RateClassifier(spec, Always(), ds.x_train, seed=2).present(np.arange(20), ds.y_train[:20])
    assert log.writes[:, 0].sum() == 0 and log.bits_flipped[:, 0].sum() == 0 and log.writes[:, 1].sum() > 0


# --------------------------------------------------------------------------- the rate backend
@pytest.mark.parametrize("gate", [Always(), Lazy()])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_rate_writes_and_bits_equal_the_changed_codes(gate, rounding):
    ds = tiny_dataset(n_train=60)
    spec = RateSpec(layers=(16, 8, 3), eta=0.05, sigma=0.1, synapse=SynapseFormat(bits=6, rounding=rounding, w_max=0.5))
    clf = RateClassifier(spec, gate, ds.x_train, seed=1)
    writes = 0
    for s in range(60):
        before = [clf.weights(k) for k in range(2)]
        log = clf.present([s], [ds.y_train[s]])
        for k in range(2):
            old, new = codes_of(before[k], 6, 0.5), codes_of(clf.weights(k), 6, 0.5)
            assert log.writes[0, k] == np.count_nonzero(new != old)
            assert log.bits_flipped[0, k] == bit_flips(old, new).sum()
            writes += log.writes[0, k]
    assert writes > 30
    # the blocked schedule learns what the literal per-sample loop learns, bit for bit
    a = RateClassifier(spec, gate, ds.x_train, seed=1, max_block=1)
    b = RateClassifier(spec, gate, ds.x_train, seed=1)
    la, lb = (c.present(np.arange(60), ds.y_train[:60]) for c in (a, b))
    np.testing.assert_array_equal(la.bits_flipped, lb.bits_flipped)
    for k in range(2):
        np.testing.assert_array_equal(a.weights(k), b.weights(k))


def test_caching_needs_float_synapses():
    from spikegate import SynapticCaching

    spec = RateSpec(layers=(16, 3), synapse=SynapseFormat(bits=6, w_max=0.5))
    with pytest.raises(ParameterError, match="caching: synaptic caching keeps float transient weights"):
        RateClassifier(spec, Always(), np.zeros((2, 16)), caching=SynapticCaching(enabled=True))
    with pytest.raises(ConfigError, match="caching.enabled = true: synaptic caching keeps float transient weights"):
        resolve("models/digits-rate.toml", ["synapse.bits=6", "synapse.w_max=0.5", "caching.enabled=true"])


# --------------------------------------------------------------------------- the random gate
def test_the_random_gate_opens_a_fraction_p_from_its_own_stream(tmp_path):
    """Over 2 epochs x 400 presentations the fraction open is within 3 standard errors of p, and
    the coin does not look at the outputs: the same seed flips the same coins for another network."""
    ds = tiny_dataset(n_train=400, n_test=20)
    model = {"name": "r", "seed": 4, "backend": "rate", "data": {"source": "npz"}, "network": {"layers": [16, 3]},
             "rate": {"eta": 0.05}, "gate": {"name": "random", "p": 0.3}, "train": {"epochs": 2}}
    a = train(model, dataset=ds, progress=False)
    b = train(model, dataset=ds, overrides=["rate.eta=0.2"], progress=False)
    opened = a.ledger.gate_open
    se = np.sqrt(0.3 * 0.7 / len(opened))
    assert len(opened) == 800 and abs(opened.mean() - 0.3) < 3 * se
    np.testing.assert_array_equal(opened, b.ledger.gate_open)
    assert a.metrics["gate"] == "random(p=0.3)"
    # a gate that opened exactly where the coins fell: writes only on open presentations
    assert (a.ledger.writes[~opened] == 0).all() and (a.ledger.writes[opened].sum(axis=1) > 0).all()


def test_the_random_gate_in_the_spiking_graph_is_the_coin():
    """In Brian2's code the random gate opens exactly where the coin (the memory column) says, on
    mistakes and correct trials alike."""
    prefs.codegen.target = "numpy"
    b2.seed(1)
    ds = tiny_dataset(n_train=40)
    clf = GatedClassifier(small_spec(), Random(p=0.5), ds.x_train, seed=1, chunk=40)
    coins = np.random.default_rng(0).random(40) < 0.5
    log = clf.present(np.arange(40), ds.y_train[:40], memgate=coins)
    np.testing.assert_array_equal(log.gate_open, coins)
    assert log.mistake[coins].any() and log.mistake[~coins].any()    # opened and shut on mistakes
    assert (log.writes[~coins] == 0).all()


def test_random_gate_parameters_are_checked():
    with pytest.raises(ParameterError, match=r"Random.p = 1.5: must be >= 0 and <= 1"):
        Random(p=1.5)
    with pytest.raises(ConfigError, match=r"gate.half_snr = 1: not read by gate 'random' \(it reads p\)"):
        resolve(dict(TINY_MODEL, gate={"name": "random", "half_snr": 1}))


# --------------------------------------------------------------------------- validation and stopping
RATE_DIGITS = {"name": "v", "seed": 2, "backend": "rate", "data": {"source": "digits"},
               "network": {"layers": [64, 10]}, "rate": {"eta": 0.01}, "gate": {"name": "always"},
               "train": {"epochs": 4}}


def test_the_validation_split_is_disjoint_from_training_and_test():
    from spikegate.data import load_digits

    full = load_digits()
    ds = full.subset(n_train=500, n_test=100, n_validation=300)
    assert len(ds.x_train) == 500 and len(ds.x_val) == 300 and len(ds.x_test) == 100
    rows = {tuple(r) for r in full.x_train}
    assert len(rows) > 1400                      # nearly all training images are distinct
    train_rows = {tuple(r) for r in ds.x_train}
    val_rows = {tuple(r) for r in ds.x_val}
    test_rows = {tuple(r) for r in full.x_test}
    np.testing.assert_array_equal(ds.x_val, full.x_train[-300:])      # the end of the training set
    assert not train_rows & val_rows                # no validation image is trained on
    assert len(val_rows & test_rows) <= len(rows & test_rows)   # nor taken from the test set
    with pytest.raises(Exception, match=r"data.n_train = 1200: must be in \[1, 1138\] .*n_validation = 300"):
        full.subset(n_train=1200, n_validation=300)


def test_the_validation_curve_records_costs_and_stopping_restores_the_best_weights():
    over = ["data.n_validation=300", "train.validate_every=200", "train.stop=patience", "train.patience=2"]
    result = train(RATE_DIGITS, overrides=over, progress=False)
    m = result.metrics
    curve = m["validation"]
    assert [p["presentations"] for p in curve][:3] == [200, 400, 600]
    assert all(b["writes"] >= a["writes"] and b["total_j"] > a["total_j"] for a, b in zip(curve, curve[1:]))
    assert all(p["learning_j"] == pytest.approx(p["writes"] * 2 * 32 * 20e-12 / 64, rel=1e-12) for p in curve)
    best = max(curve, key=lambda p: p["validation_accuracy"])
    assert m["stopped"] and m["stopping_point"] == best and m["best_validation_accuracy"] == best["validation_accuracy"]
    later = [p for p in curve if p["presentations"] > best["presentations"]]
    assert len(later) == 2 and all(p["validation_accuracy"] <= best["validation_accuracy"] for p in later)
    # the weights are the stopping point's: training on the same stream up to it gives them
    again = train(RATE_DIGITS, overrides=["data.n_validation=300", "train.validate_every=200",
                                          "train.stop=target", f"train.stop_accuracy={best['validation_accuracy']}"],
                  progress=False)
    assert again.metrics["stopping_point"]["presentations"] == best["presentations"]
    for k in range(len(result.final_weights)):
        np.testing.assert_array_equal(result.final_weights[k], again.final_weights[k])


def test_stopping_needs_a_validation_split():
    with pytest.raises(ConfigError, match="train.stop = 'patience': stopping is decided on validation accuracy"):
        train(RATE_DIGITS, overrides=["train.stop=patience"], progress=False)
    with pytest.raises(ConfigError, match="train.stop_accuracy = 0: stop = 'target' needs"):
        train(RATE_DIGITS, overrides=["train.stop=target", "data.n_validation=100"], progress=False)
    with pytest.raises(ConfigError, match="train.technology = 'abacus': not in the energy catalogue"):
        train(RATE_DIGITS, overrides=["train.technology=abacus", "data.n_validation=100"], progress=False)


def test_random_at_the_matched_rate_reproduces_the_other_gates_opening_fraction():
    """The protocol's control: random(p) with p = ern's measured opening fraction opens that often
    (within 2 points over 4 epochs of the digits)."""
    ern = train(dict(RATE_DIGITS, gate={"name": "ern"}), progress=False)
    p = float(ern.ledger.gate_open.mean())
    rnd = train(dict(RATE_DIGITS, gate={"name": "random", "p": round(p, 4)}), progress=False)
    assert 0.05 < p < 0.95 and abs(rnd.ledger.gate_open.mean() - p) < 0.02
