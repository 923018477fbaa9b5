"""Learning on a budget: the metabolic reserve (spikegate.model.reserve), both backends."""
import math
import re

import numpy as np
import pytest
from brian2 import joule

from spikegate import train
from spikegate.cli import main
from spikegate.config import resolve
from spikegate.errors import ConfigError, ParameterError
from spikegate.model import MetabolicReserve, reserve_step

from conftest import ROOT, TINY_MODEL, tiny_dataset

RATE_MODEL = {"name": "tiny-rate", "seed": 3, "backend": "rate", "data": {"source": "npz"},
              "network": {"layers": [16, 8, 3]}, "rate": {"eta": 0.05}, "gate": {"name": "lazy"},
              "train": {"epochs": 2, "eval_every_epoch": False}}


def run(model, reserve=None, epochs=2):
    m = dict(model, train=dict(model["train"], epochs=epochs))
    if reserve is not None:
        m["reserve"] = reserve
    return train(m, dataset=tiny_dataset(), progress=False)


def same(a, b):
    np.testing.assert_array_equal(a.ledger.gate_open, b.ledger.gate_open)
    np.testing.assert_array_equal(a.ledger.writes, b.ledger.writes)
    for k in range(a.config.spec.n_projections):
        np.testing.assert_array_equal(a.classifier.weights(k), b.classifier.weights(k))


@pytest.mark.parametrize("model", [TINY_MODEL, RATE_MODEL], ids=["spiking", "rate"])
def test_unlimited_reserve_is_the_gate_it_wraps_bit_for_bit(model):
    plain = run(model)
    assert plain.ledger.m0 > 0
    same(plain, run(model, {"capacity": "inf J", "refill": "1 J", "j_per_write": "1 J"}))
    # a finite reserve that never runs out: the same (the rate backend takes its one-row path)
    same(plain, run(model, {"capacity": "1e30 J", "j_per_write": "1 J"}))


@pytest.mark.parametrize("model", [TINY_MODEL, RATE_MODEL], ids=["spiking", "rate"])
def test_zero_reserve_writes_nothing(model):
    res = run(model, {"capacity": "0 J"})
    assert res.ledger.m0 == 0 and res.ledger.n_gated == 0 and res.ledger.mistake.any()


@pytest.mark.parametrize("model", [TINY_MODEL, RATE_MODEL], ids=["spiking", "rate"])
def test_limited_reserve_opens_exactly_while_it_lasts(model):
    """Replaying the reserve over the ledger: lazy opens on a mistake exactly while R > 0."""
    plain = run(model)
    per = plain.ledger.m0 / max(plain.ledger.n_gated, 1)       # writes of an open presentation
    e = 1e-3
    capacity, refill = 2 * per * e, 0.05 * per * e
    res = run(model, {"capacity": f"{capacity} J", "refill": f"{refill} J", "j_per_write": f"{e} J"})
    R, expected = capacity, []
    for k in range(res.ledger.n_presentations):
        expected.append(bool(res.ledger.mistake[k]) and R > 0)
        R = reserve_step(R, res.ledger.writes[k].sum(), e, refill, capacity)
    np.testing.assert_array_equal(res.ledger.gate_open, expected)
    assert 0 < res.ledger.m0 < plain.ledger.m0
    assert res.ledger.mistake[~res.ledger.gate_open].any()          # shut on some mistakes: the budget bit
    if model is TINY_MODEL:
        assert float(res.classifier.reserve_left / joule) == pytest.approx(R)
    else:
        assert res.classifier.reserve_j == pytest.approx(R)


def test_reserve_declaration_and_config_errors():
    r = MetabolicReserve(capacity="2 J", refill="0.1 J", j_per_write="1 J", initial="0.5 J")
    assert r.start == 0.5 * joule and not r.unlimited and MetabolicReserve().unlimited
    assert r == MetabolicReserve(capacity=2 * joule, refill=0.1 * joule, j_per_write=1 * joule, initial=0.5 * joule)
    assert reserve_step(0.5, 2, 1.0, 0.1, 2.0) == pytest.approx(-1.4)
    assert reserve_step(1.95, 0, 1.0, 0.1, 2.0) == 2.0
    assert reserve_step(math.inf, 5, 1.0, 0.0, math.inf) == math.inf
    for kwargs, message in [({"capacity": "-1 J"}, "MetabolicReserve.capacity = -1. * joule: must be >= 0"),
                            ({"refill": "inf J"}, "MetabolicReserve.refill = inf"),
                            ({"j_per_write": "0 J"}, "MetabolicReserve.j_per_write = 0. * joule: must be > 0"),
                            ({"capacity": "1 J", "initial": "2 J"}, "initial = 2. * joule: must be <= capacity"),
                            ({"capacity": "1 ms"}, "wrong unit")]:
        with pytest.raises(ParameterError, match=re.escape(message)):
            MetabolicReserve(**kwargs)
    with pytest.raises(ConfigError, match="reserve.capacity = -1. \\* joule: must be >= 0"):
        resolve(dict(TINY_MODEL, reserve={"capacity": "-1 J"}))
    with pytest.raises(ConfigError, match="needs train.device"):
        resolve(dict(TINY_MODEL, reserve={"capacity": "1 J"}, train={"device": "cpp_standalone"}))
    with pytest.raises(ConfigError, match="batch_size = 1"):
        run(dict(RATE_MODEL, rate={"eta": 0.05, "batch_size": 4}), {"capacity": "1 J"})
    assert "reserve" not in resolve(TINY_MODEL).values        # no budget: configs unchanged


def test_budget_below_zero_from_the_command_line(tmp_path, capsys):
    code = main(["train", str(ROOT / "models" / "digits.toml"), "--set", "reserve.capacity=-1 J",
                 "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "spikegate: error: reserve.capacity = -1. * joule: must be >= 0. * joule", err
    assert not (tmp_path / "r").exists()
