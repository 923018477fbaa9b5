"""The Python API refuses bad values with spikegate's own one-line errors, on both backends:
no projection counted from the end, no NaN weights, no float label truncated, no seed
wrapped around."""
import numpy as np
import pytest
from brian2 import prefs

from spikegate import GatedClassifier, Lazy, RateClassifier, RateSpec, make_gate
from spikegate.errors import DataError, ParameterError

from test_network import small_spec


@pytest.fixture(scope="module")
def spiking():
    prefs.codegen.target = "numpy"
    clf = GatedClassifier(small_spec(), Lazy(), np.zeros((3, 16)), seed=1, chunk=4, name="api_inputs")
    clf.network   # built into its network: no "never included" warning when deleted
    return clf


@pytest.fixture(scope="module")
def rate():
    return RateClassifier(RateSpec(layers=(16, 6, 3), dtype="float64"), make_gate("lazy"), np.zeros((3, 16)), seed=1)


W = np.zeros((16, 6))
NAN_W = np.full((16, 6), np.nan)

#: (call, error, message); ``w`` is a weight matrix of the classifier's first projection.
CASES = {
    "projection -1": (lambda c, w: c.set_weights(-1, w), ParameterError, r"projection k = -1: expected an integer in \[0, 1\]"),
    "projection 2": (lambda c, w: c.set_weights(2, w), ParameterError, r"projection k = 2: expected an integer in \[0, 1\]"),
    "projection 0.5": (lambda c, w: c.weights(0.5), ParameterError, r"projection k = 0.5"),
    "projection True": (lambda c, w: c.weights(True), ParameterError, r"projection k = True"),
    "NaN weights": (lambda c, w: c.set_weights(0, np.full_like(w, np.nan)), ParameterError, "contain NaN or infinity"),
    "infinite weights": (lambda c, w: c.set_weights(0, np.full_like(w, np.inf)), ParameterError, "contain NaN or infinity"),
    "weights of the wrong shape": (lambda c, w: c.set_weights(0, w.T), ParameterError, "shape"),
    "text weights": (lambda c, w: c.set_weights(0, np.full(w.shape, "a")), ParameterError, "values of type <U1"),
    "NaN sample": (lambda c, w: c.present([0, np.nan], [0, 1]), DataError, "samples: contains NaN"),
    "fractional sample": (lambda c, w: c.present([0, 1.5], [0, 1]), DataError, "samples: value 1.5 is not an integer"),
    "sample out of range": (lambda c, w: c.present([0, 3], [0, 1]), DataError, r"samples: value 3 outside \[0, 2\]"),
    "negative sample": (lambda c, w: c.present([-1], [0]), DataError, r"samples: value -1 outside \[0, 2\]"),
    "samples as a matrix": (lambda c, w: c.present([[0, 1]], [0, 1]), DataError, "one-dimensional"),
    "text samples": (lambda c, w: c.present(["a"], [0]), DataError, "samples: values of type <U1"),
    "float label": (lambda c, w: c.present([0, 1], [0.0, 1.7]), DataError,
                    r"labels: float labels \(float64; e.g. 1.7 at index 1; class labels are integers in \[0, 2\]\)"),
    "whole float labels": (lambda c, w: c.present([0, 1], [0.0, 1.0]), DataError,
                           r"labels: float labels \(float64; class labels are integers in \[0, 2\]\); convert whole "
                           r"numbers with y.astype\(int\)"),
    "NaN label": (lambda c, w: c.present([0, 1], [0, np.nan]), DataError, "labels: float labels .*e.g. nan at index 1"),
    "boolean labels": (lambda c, w: c.present([0, 1], [True, False]), DataError, "labels: values of type bool"),
    "label out of range": (lambda c, w: c.present([0], [3]), DataError, r"labels: value 3 outside \[0, 2\]"),
    "labels of another length": (lambda c, w: c.present([0, 1], [0]), DataError, "labels: 1 labels for 2 samples"),
    "memory gate of 2": (lambda c, w: c.present([0], [0], memgate=[2]), DataError, "memgate: values must be 0 or 1"),
}


@pytest.mark.parametrize("backend", ["spiking", "rate"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_api_values_raise_spikegate_errors(case, backend, spiking, rate):
    clf = spiking if backend == "spiking" else rate
    call, error, message = CASES[case]
    before = [clf.weights(k).copy() for k in range(2)]
    with pytest.raises(error, match=message) as info:
        call(clf, clf.weights(0))
    assert "\n" not in str(info.value)
    for k in range(2):      # nothing was written
        np.testing.assert_array_equal(clf.weights(k), before[k])


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 1.5, True, "1"])
def test_seeds_out_of_range_are_refused(seed):
    with pytest.raises(ParameterError, match=r"seed = .*: expected an integer in \[0, 4294967295\]"):
        RateClassifier(RateSpec(layers=(16, 3)), make_gate("lazy"), np.zeros((2, 16)), seed=seed)
    with pytest.raises(ParameterError, match=r"GatedClassifier.seed = .*: expected an integer in \[0, 4294967295\]"):
        GatedClassifier(small_spec(layers=(16, 3)), Lazy(), np.zeros((2, 16)), seed=seed, name="api_seed")


def test_integer_valued_floats_are_accepted_as_indices(rate):
    log = rate.present(np.array([0.0, 2.0]), np.array([1, 0]), learn=False)   # labels: integers only
    assert log.samples.tolist() == [0, 2] and log.labels.tolist() == [1, 0]
