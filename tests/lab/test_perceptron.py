"""perceptron-vs-backprop: the notes' Brady-Raghavan-Slawny example."""

import numpy as np

from handgrad.lab.perceptron import PerceptronConfig, classify, run_perceptron


def test_perceptron_separates_and_backprop_misclassifies_the_spoiler():
    cfg = PerceptronConfig(t=10.0, epochs=6000)
    res = run_perceptron(verbose=False, config=cfg)
    # The perceptron separates all four points.
    assert res.perceptron_separates
    assert np.all(classify(res.perceptron_4, res.points) == res.classes)
    # Backprop, continued from the three-point solution, leaves the spoiler (index 3) misclassified
    # and the other three right.
    assert res.backprop_errors == [3]
    assert res.spoiler_misclassified
    # The three-point solution is the notes' w_x = w_y = u, b = 0 (approached by GD).
    np.testing.assert_allclose(res.backprop_3[:2], res.u, rtol=0.05)
    assert abs(res.backprop_3[2]) < 0.2
    # The spoiler's gradient is negligible: sigma'(-w_y t + b) vanishes exponentially.
    assert res.grad_norms[:, 3].max() < 1e-15
    assert res.grad_norms[0, :3].max() > 1e-8
    g = res.spoiler_gradient_vs_t
    assert np.all(np.diff(g[g[:, 0] > 2, 1]) < 0)
    assert "misclassifies the spoiler" in res.verdict


def test_a_near_spoiler_is_not_ignored():
    """The failure needs the spoiler far away: at t = 1 its gradient is large and backprop moves."""
    res = run_perceptron(verbose=False, config=PerceptronConfig(t=1.0, epochs=3000))
    assert res.grad_norms[0, 3] > 1e-2
