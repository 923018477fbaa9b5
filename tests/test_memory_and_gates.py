import math

import numpy as np
import pytest

from spikegate import (Always, Lazy, Margin, Memorized, MistakeMemory, ParameterError, Trace, make_gate,
                       memory_decay, memory_gate, memory_update)


def test_memory_decay_closed_values():
    assert memory_decay(0) == 0.0
    assert memory_decay(math.inf) == 1.0
    assert memory_decay(2.0) == pytest.approx(math.exp(-0.5), rel=1e-15)


def test_trace_sequence_of_one_sample():
    # mistake, correct, correct, correct with tau_mem = 2, theta = 0.5:
    # mu: 1 -> e^-0.5 = 0.607 (open) -> e^-1 = 0.368 (closed) -> 0.223 (closed)
    mem = MistakeMemory(1, tau_mem=2.0, theta_mem=0.5)
    opened = []
    for mistake in (True, False, False, False):
        gate = bool(mem.gate([0])[0]) or mistake
        opened.append(gate)
        mem.update([0], [mistake])
    assert opened == [True, True, False, False]
    assert mem.mu[0] == pytest.approx(math.exp(-1.5), rel=1e-12)


def test_lazy_and_memorized_limits_of_the_trace():
    rng = np.random.default_rng(0)
    outcomes = rng.random((6, 50)) < 0.3          # epochs x samples
    for tau, expect in ((0.0, "lazy"), (math.inf, "memorized")):
        mem = MistakeMemory(50, tau, 0.5)
        ever = np.zeros(50, dtype=bool)
        for mistakes in outcomes:
            gate = mem.gate(np.arange(50)) | mistakes
            reference = mistakes if expect == "lazy" else (ever | mistakes)
            np.testing.assert_array_equal(gate, reference)
            mem.update(np.arange(50), mistakes)
            ever |= mistakes


def test_memory_rejects_repeated_samples_in_one_run():
    mem = MistakeMemory(5, 1.0, 0.5)
    with pytest.raises(ParameterError, match="repeats"):
        mem.gate([1, 2, 1])


def test_pure_functions():
    np.testing.assert_array_equal(memory_gate(np.array([1.0, 0.6, 0.4]), 0.9, 0.5), [True, True, False])
    np.testing.assert_allclose(memory_update(np.array([0.5, 0.5]), np.array([True, False]), 0.5), [1.0, 0.25])


def test_gates_are_frozen_hashable_values():
    assert Trace(3.0, 0.5) == Trace(3, 0.5) and hash(Trace(3.0, 0.5)) == hash(Trace(3, 0.5))
    assert Lazy() != Always()
    assert len({Lazy(), Lazy(), Memorized(), Margin(2), Margin(2)}) == 3
    with pytest.raises(Exception):
        Lazy().x = 1
    assert Lazy().margin_threshold == 0 and Margin(3).min_margin == 3 and Margin(3).margin_threshold == 2 and Always().always
    assert Memorized().tau_mem == math.inf and not Lazy().uses_memory and Trace(2).uses_memory


@pytest.mark.parametrize("call, message", [
    (lambda: Trace(-1.0), "Trace.tau_mem = -1.0: must be >= 0"),
    (lambda: Trace(1.0, 0.0), "Trace.theta_mem = 0.0: must be > 0 and <= 1"),
    (lambda: Margin(0), "Margin.min_margin = 0: must be >= 1"),
    (lambda: Margin(1.5), "Margin.min_margin = 1.5: expected an integer"),
    (lambda: make_gate("sometimes"), "gate = 'sometimes': unknown gate; allowed: always, lazy, memorized, trace, margin, ern, random"),
    (lambda: make_gate("ern", theta_write=0), "ERNGate.theta_write = 0: must be > 0 and <= 1"),
    (lambda: make_gate("ern", bias=0.5), "ERNGate.bias = 0.5: must be >= 1"),
    (lambda: make_gate("ern", snr_width=0), "ERNGate.snr_width = 0: must be > 0"),
    (lambda: make_gate("ern", graded="yes"), "ERNGate.graded = 'yes': expected true or false"),
    (lambda: make_gate("lazy", half_snr=2), "gate.half_snr = 2: not read by gate 'lazy' (it has no parameters); remove it"),
])
def test_gate_errors_name_parameter_value_and_range(call, message):
    with pytest.raises(ParameterError) as err:
        call()
    assert str(err.value) == message


def test_ern_decision_by_hand():
    from spikegate.model import ERNGate, gate_decision

    gate = ERNGate(half_snr=1.0, snr_width=0.5, bias=2.0, theta_write=0.2)
    margin = np.array([-2.0, 0.0, 1.0, 3.0, 9.0, 3.0])
    noise = np.array([3.0, 3.0, 2.0, 3.0, 3.0, 3.0])   # z = m / sigma: -, 0, 0.5, 1, 3, 1
    memory = np.array([0, 0, 0, 0, 0, 1], bool)
    d = gate_decision(margin, memory, gate, noise=noise)
    crn = lambda z: 1 / (2 * (1 + math.exp((z - 1.0) / 0.5)))   # noqa: E731
    expected = [1.0, 1.0, crn(0.5), crn(1.0), crn(3.0), 1.0]
    np.testing.assert_allclose(d.drive, expected, rtol=1e-12)
    np.testing.assert_array_equal(d.mistake, [True, True, False, False, False, False])
    np.testing.assert_array_equal(d.open, [True, True, True, True, False, True])   # crn(3) = 0.009 < 0.2
    assert crn(1.0) == 0.25 and d.drive[3] == 0.25                               # half the largest CRN at z = half_snr
    binary = gate_decision(margin, memory, ERNGate(graded=False), noise=noise)
    np.testing.assert_array_equal(binary.open, [True, True, False, False, False, True])
    np.testing.assert_array_equal(binary.drive, [1, 1, 0, 0, 0, 1])
