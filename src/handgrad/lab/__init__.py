"""The lecture laboratory: the analyses and experiments of the notes, one function each.

Every experiment takes a config dataclass (its options, with defaults that run in seconds), returns
a result dataclass holding its data and a plain-words ``verdict``, and writes ``<name>.png`` (and,
where motion helps, ``<name>.gif``) into an output folder::

    from handgrad import lab
    result = lab.run("quadratic", out_dir="figures", a=4.0)
    print(result.verdict)

The same runs from the shell as ``handgrad lab quadratic --a 4 --out figures``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from handgrad.lab.common import Outputs, make_config
from handgrad.errors import unknown_option


@dataclass(frozen=True)
class Experiment:
    name: str
    module: str          # handgrad.lab.<module>
    config: str          # its config dataclass
    function: str        # run_<...>(outputs, verbose, config) -> result with .verdict
    summary: str
    animated: bool = False

    def load(self):
        mod = importlib.import_module(f"handgrad.lab.{self.module}")
        return getattr(mod, self.config), getattr(mod, self.function)


EXPERIMENTS = {e.name: e for e in (
    Experiment("explain", "explain", "ExplainConfig", "run_explain",
               "one forward and backward pass of a tiny network, step by step, every gradient "
               "checked by finite differences"),
    Experiment("quadratic", "quadratic", "QuadraticConfig", "run_quadratic",
               "gradient descent on 1-D and 2-D quadratics below, between and above eta_opt and "
               "2 eta_opt; Newton and the axis-rescaled update", animated=True),
    Experiment("trajectories", "trajectories", "TrajectoriesConfig", "run_trajectories",
               "the optimizers of the notes racing on 2-D test functions", animated=True),
    Experiment("perceptron-vs-backprop", "perceptron", "PerceptronConfig", "run_perceptron",
               "Brady, Raghavan & Slawny (1989): the perceptron separates, backprop from the "
               "three-point solution does not; counted over random starts"),
    Experiment("hessian", "curvature", "CurvatureConfig", "run_curvature",
               "a trained MLP's Hessian, eta_opt = 1/lambda_max and the divergence of GD beyond "
               "2/lambda_max"),
    Experiment("saddle", "saddle", "SaddleConfig", "run_saddle",
               "a network started at a saddle point of its loss and which optimizers escape it"),
    Experiment("decay", "decay", "DecayConfig", "run_decay",
               "the learning-rate schedules of the notes side by side"),
    Experiment("surface", "surface", "SurfaceConfig", "run_surface",
               "a 2-D slice of an MLP's loss surface with the optimizer's path", animated=True),
    Experiment("vanishing", "vanishing", "VanishingConfig", "run_vanishing",
               "per-layer gradient norms of a deep sigmoid, tanh and ReLU network, with and "
               "without batch norm; exploding gradients from a large initialisation"),
    Experiment("cost", "cost", "CostConfig", "run_cost",
               "a sigmoid neuron started badly wrong: slow under the quadratic cost, fast under "
               "cross-entropy"),
    Experiment("convergence-rates", "convergence", "ConvergenceConfig", "run_convergence",
               "linear convergence on a strongly convex quadratic against O(1/k) on convex "
               "functions"),
    Experiment("batching", "batching", "BatchingConfig", "run_batching",
               "full-batch GD, SGD and mini-batches by epochs and wall time; the variance of the "
               "gradient estimate against batch size"),
    Experiment("overfitting", "overfitting", "OverfittingConfig", "run_overfitting",
               "a large network trained long on few points: train and validation loss diverge; "
               "L2, dropout and early stopping close the gap"),
    Experiment("escape", "escape", "EscapeConfig", "run_escape",
               "a poor local minimum: a small constant rate stays, a large rate with decay finds "
               "the better minimum, over many starts"),
    Experiment("newton-fails", "newton_fails", "NewtonFailsConfig", "run_newton_fails",
               "plain Newton walks to saddles and maxima of a non-convex surface and a small "
               "network; the modified Newton (|lambda|) does not"),
    Experiment("pretraining", "pretraining", "PretrainingConfig", "run_pretraining",
               "greedy layer-wise autoencoder pretraining of a deep sigmoid network against small "
               "and Xavier random starts"),
)}


def get_experiment(name: str) -> Experiment:
    key = str(name).lower().replace("_", "-")
    if key not in EXPERIMENTS:
        raise unknown_option("lab experiment", name, EXPERIMENTS)
    return EXPERIMENTS[key]


def run(name: str, out_dir=None, gif: bool = False, verbose: bool = True, **options):
    """Run experiment ``name`` with ``options`` overriding its config defaults.

    Writes ``<out_dir>/<name>.png`` (and the GIF if ``gif``) unless ``out_dir`` is None; prints the
    verdict if ``verbose``; returns the experiment's result dataclass.
    """
    experiment = get_experiment(name)
    config_cls, function = experiment.load()
    config = make_config(config_cls, options, experiment.name)
    outputs = Outputs(out_dir, experiment.name, gif=gif and experiment.animated)
    return function(outputs=outputs, verbose=verbose, config=config)


__all__ = ["EXPERIMENTS", "Experiment", "get_experiment", "run"]
