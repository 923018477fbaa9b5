"""The learning-rate schedule (``train.eta_decay``): a classifier's learning scale is the rule at a
scaled rate, on every backend, and training applies :math:`1 / (1 + d (e - 1))` epoch by epoch."""
import json

import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, ms, prefs, second

from spikegate import Always, GatedClassifier, ParameterError, RateClassifier, RateSpec, SynapseFormat, ThreeFactorRule
from spikegate.config import resolve
from spikegate.errors import ConfigError
from spikegate.training import train
from conftest import tiny_dataset, tiny_model_file
from test_network import small_spec


def _rule(scale):
    return ThreeFactorRule(eta=2 * scale / second, eta_hidden=1 * scale / second, tau_e=100 * ms, nu_target=200 * Hz,
                           w_max=6.0)


def _spiking(rule):
    return GatedClassifier(small_spec(rule=rule, synapse=SynapseFormat(bits=8)), Always(), tiny_dataset(n_train=24).x_train,
                           seed=4, chunk=8)


def _rate(eta):
    spec = RateSpec(layers=(16, 8, 3), eta=0.05 * eta, eta_hidden=0.02 * eta, synapse=SynapseFormat(bits=8, w_max=0.5))
    return RateClassifier(spec, Always(), tiny_dataset(n_train=24).x_train, seed=4)


@pytest.mark.parametrize("backend", ["spiking", "rate"])
def test_a_learning_scale_is_the_rule_at_the_scaled_rate(backend):
    """Scale 1/2 learns exactly what a rule with half the learning rates learns (both are exact in
    floating point), and something else than scale 1: same writes, same weights, bit for bit."""
    prefs.codegen.target = "numpy"
    ds = tiny_dataset(n_train=24)
    build = (lambda s: _spiking(_rule(s))) if backend == "spiking" else _rate
    scaled, halved, full = build(1.0), build(0.5), build(1.0)
    scaled.set_learning_scale(0.5)
    logs = []
    for clf in (scaled, halved, full):
        b2.seed(9)
        logs.append(clf.present(np.arange(24), ds.y_train))
    np.testing.assert_array_equal(logs[0].writes, logs[1].writes)
    assert logs[0].writes.sum() > 20 and not np.array_equal(logs[0].writes, logs[2].writes)
    for k in range(2):
        np.testing.assert_array_equal(scaled.weights(k), halved.weights(k))
    assert scaled.learning_scale == 0.5 and full.learning_scale == 1.0


@pytest.mark.parametrize("scale, message", [(-1, r"learning_scale = -1: .*>= 0"), (float("nan"), "NaN"),
                                            ("fast", "learning_scale")])
def test_a_bad_learning_scale_names_itself(scale, message):
    clf = _rate(1.0)
    with pytest.raises(ParameterError, match=message):
        clf.set_learning_scale(scale)
    assert clf.learning_scale == 1.0


def test_training_decays_the_rate_epoch_by_epoch(tmp_path):
    """``eta_decay = 1``: scales 1, 1/2, 1/3 in the curves; the first epoch is the constant-rate
    run's first epoch, the later ones write less (same samples, same order)."""
    model = tiny_model_file(tmp_path, epochs=3)
    runs = {d: json.loads((train(model, overrides=[f"train.eta_decay={d}"], out=tmp_path / f"d{d}",
                                 progress=False).run_dir / "metrics.json").read_text()) for d in (0, 1)}
    scales = [c["learning_scale"] for c in runs[1]["curves"]]
    assert scales == pytest.approx([1.0, 0.5, 1 / 3])
    assert [c["learning_scale"] for c in runs[0]["curves"]] == [1.0, 1.0, 1.0]
    first = [r["curves"][0] for r in (runs[0], runs[1])]
    assert first[0]["n_writes"] == first[1]["n_writes"] and first[0]["sum_abs_dw"] == first[1]["sum_abs_dw"]
    later = [sum(c["sum_abs_dw"] for c in r["curves"][1:]) for r in (runs[0], runs[1])]
    assert later[1] < 0.8 * later[0]
    assert resolve(model).training.learning_scale(3) == 1.0


def test_a_negative_decay_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"train.eta_decay.*-0.5.*>= 0"):
        resolve(tiny_model_file(tmp_path, epochs=1), [("train.eta_decay", -0.5)])
