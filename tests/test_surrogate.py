"""The hidden layer's surrogate derivative (``rule.hidden_derivative = "boxcar"``): the factor of a
hidden neuron's learning signal is the fraction of the window its membrane spent near threshold."""
import brian2 as b2
import numpy as np
import pytest
from brian2 import Hz, mV, ms, prefs, second

from spikegate import Always, GatedClassifier, NeuronEquations, ParameterError, ThreeFactorRule
from conftest import tiny_dataset
from test_network import small_spec


def _rule(**kw):
    return ThreeFactorRule(eta=2 / second, eta_hidden=1 / second, tau_e=100 * ms, nu_target=200 * Hz, w_max=6.0, **kw)


def test_the_boxcar_factor_is_the_fraction_of_steps_near_threshold():
    """L_k / (sum_j B_kj L_j) == the fraction of the last window's steps with v > v_threshold - width,
    read from a StateMonitor at the same point of the step."""
    prefs.codegen.target = "numpy"
    spec = small_spec(rule=_rule(hidden_derivative="boxcar", boxcar_width=4 * mV))
    ds = tiny_dataset(n_train=10)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=3, chunk=4)
    hidden = clf.layers[0]
    v = b2.StateMonitor(hidden, "v", record=True, when="after_thresholds", order=1, clock=clf.clock)
    clf.run(b2.Network(clf.objects, v), [0, 1], ds.y_train[:2])
    steps = int(round(float(spec.t_stim / spec.dt)))
    window = v.v[:, steps:2 * steps] / mV
    fraction = (window > float(spec.neuron.v_threshold / mV) - 4).mean(axis=1)
    np.testing.assert_allclose(hidden.L[:], hidden.fb[:] * fraction, rtol=1e-12, atol=1e-15)
    assert (fraction > 0).sum() >= 2 and (fraction < 1).all()


def test_the_derivative_is_structure_and_the_width_a_value():
    active, boxcar = small_spec(), small_spec(rule=_rule(hidden_derivative="boxcar"))
    assert active.structure() != boxcar.structure()
    assert boxcar.structure() == small_spec(rule=_rule(hidden_derivative="boxcar", boxcar_width=2 * mV)).structure()


@pytest.mark.parametrize("kwargs, message", [({"hidden_derivative": "sigmoid"}, r"hidden_derivative.*sigmoid.*active"),
                                             ({"boxcar_width": -1 * mV}, r"boxcar_width.*> 0")])
def test_bad_surrogates_name_the_field(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        _rule(**kwargs)


def test_the_boxcar_needs_a_lif_neuron():
    adex = NeuronEquations(equations="dv/dt = (-(v + 65*mV) + I) / (20*ms) : volt (unless refractory)",
                           threshold="v > -50*mV", reset="v = -65*mV", initial={"v": "-65 mV"})
    with pytest.raises(ParameterError, match=r"hidden_derivative = 'boxcar'.*LIF"):
        small_spec(rule=_rule(hidden_derivative="boxcar"), neuron=adex)
