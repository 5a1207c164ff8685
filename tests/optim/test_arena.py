"""The optimizer arena: problems, the run loop, the table and the plot, and the CLI."""

import numpy as np
import pytest

from handgrad.lab import arena
from handgrad.cli.main import main


def test_arena_cli_writes_table_and_plot(tmp_path, capsys):
    code = main(["arena", "--optimizers", "sgd,rprop_backtracking,quickprop,lm", "--problem",
                 "encoder:4-2-4,quadratic", "--seeds", "2", "--epochs", "300", "--out",
                 str(tmp_path), "--workers", "0"])
    assert code == 0
    out = capsys.readouterr().out
    assert "**encoder 4-2-4**" in out and "**quadratic (2-D, condition 20)**" in out
    rows = [line for line in out.splitlines() if line.startswith("| lm ")]
    assert len(rows) == 2
    assert (tmp_path / "arena.png").stat().st_size > 10_000
    assert "| quickprop |" in (tmp_path / "arena_tables.md").read_text()


def test_runs_reach_the_criterion_and_report_epochs():
    problem = arena.get_problem("quadratic")
    run = arena.run_once(problem, "newton", seed=0, lr=1.0)
    assert run.reached == 1 and len(run.curve) == 2         # Newton: one step on a quadratic
    run = arena.run_once(problem, "sgd", seed=0, lr=0.09)
    assert run.reached is not None and run.reached > 10
    assert run.curve[run.reached] < run.curve[0]


def test_divergence_and_failures_are_counted():
    problem = arena.get_problem("quadratic")
    entries = arena.run_arena(problem, ["sgd"], seeds=2, lr={"sgd": 0.2}, max_epochs=50)
    summary = arena.summary(entries[0])
    assert summary["reached"] == 0 and summary["diverged"] == 2   # eta > 2 eta_opt = 0.1
    assert "2/2 (2 diverged)" in arena.table(problem, entries, 50)


def test_methods_that_do_not_apply_are_reported_not_run():
    problem = arena.get_problem("xor")
    problem.loss = arena.get_loss("bce")
    entries = arena.run_arena(problem, ["lm"], seeds=1, max_epochs=2)
    assert entries[0].error is not None and "squared-error" in entries[0].error
    assert "| lm | 1 | full | n/a |" in arena.table(problem, entries, 2)


def test_minibatch_and_full_batch_methods():
    problem = arena.get_problem("digits:4")
    problem.x, problem.d = problem.x[:256], problem.d[:256]
    entries = arena.run_arena(problem, ["adam", "rprop"], seeds=1, max_epochs=2)
    assert [e.batch for e in entries] == ["64", "full"]
    assert all(len(e.runs[0].curve) == 3 for e in entries)


@pytest.mark.parametrize("spec, message", [("mnist", "unknown arena problem 'mnist'"),
                                           ("encoder:8-3-4", "encoder:N-M-N"),
                                           ("parity:x", "parity:BITS")])
def test_bad_problem_names(spec, message):
    with pytest.raises(ValueError, match=message):
        arena.get_problem(spec)


def test_cli_rejects_unknown_optimizer(tmp_path, capsys):
    assert main(["arena", "--optimizers", "sgd,adamax", "--out", str(tmp_path),
                 "--workers", "0"]) == 2
    assert "unknown optimizer 'adamax'" in capsys.readouterr().err


def test_rosenbrock_residuals_give_the_function_and_its_gradient():
    from handgrad.testfunctions import Rosenbrock, function_closure, rosenbrock_function

    model = Rosenbrock(np.array([-1.2, 1.0]))
    closure = function_closure(model)
    u, v = -1.2, 1.0
    fn = rosenbrock_function()        # the lab's plane form: the same formula
    assert fn.E(u, v) == pytest.approx((1 - u) ** 2 + 100 * (v - u * u) ** 2, rel=1e-15)
    np.testing.assert_allclose(fn.grad(u, v), [-2 * (1 - u) - 400 * u * (v - u * u),
                                               200 * (v - u * u)], rtol=1e-12)
    assert closure() == pytest.approx((1 - u) ** 2 + 100 * (v - u * u) ** 2)
    expected = [-2 * (1 - u) - 400 * u * (v - u * u), 200 * (v - u * u)]
    np.testing.assert_allclose(model.grad, expected, rtol=1e-12)
