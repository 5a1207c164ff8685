"""The arena's rows (BFGS, 002's momentum forms, the unmodified Newton), the momentum grid on the
effective step, and `handgrad arena --write-tables FILE`, which rewrites FILE's arena blocks from
what the arena returns. Tiny arenas only."""

import numpy as np
import pytest

from handgrad.cli.main import main
from handgrad.lab import arena


def rows(text):
    """The table rows of a Markdown text, without the time column (it is measured)."""
    return [line.rsplit("|", 2)[0] for line in text.splitlines() if line.startswith("|")]


def test_the_new_contestants_are_in_the_arena():
    names = arena.contestants()
    for name in ("bfgs", "momentum002", "nesterov002", "newton_plain", "momentum002_beta1"):
        assert name in names
    assert arena.contestant("newton_plain") == ("newton", {"fix": "none", "line_search": "none",
                                                           "max_params": 500})
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        arena.contestant("adamax")


def test_002_rows_repeat_001s_runs_as_the_reparametrisation_says():
    problem = arena.get_problem("quadratic")
    entries = arena.run_arena(problem, ["momentum", "momentum002", "nesterov", "nesterov002"],
                              seeds=2, max_epochs=60)
    for a, b in (entries[:2], entries[2:]):
        assert a.lr == b.lr
        for ra, rb in zip(a.runs, b.runs):
            np.testing.assert_allclose(ra.curve, rb.curve, rtol=1e-9)
            assert ra.reached == rb.reached


def test_newton_plain_is_the_unmodified_step_and_bfgs_runs():
    problem = arena.get_problem("quadratic")
    entries = arena.run_arena(problem, ["newton_plain", "bfgs"], seeds=2, max_epochs=30)
    plain, bfgs = entries
    assert [r.reached for r in plain.runs] == [1, 1]     # W - H^-1 grad: one step on a quadratic
    assert all(r.reached is not None and r.reached <= 10 for r in bfgs.runs)


def test_encoder_momentum_rows_carry_their_beta():
    problem = arena.get_problem("encoder:4-2-4")
    p = arena.plan(problem, "momentum")
    assert p.options == {"beta": 0.5} and p.lr == problem.lr["momentum"]
    text = arena.table(problem, [p.entry()])
    assert "| momentum beta=0.5 |" in text


def test_momentum_grid_rows_are_eta_equal_s_times_1_minus_beta_and_beta_0_is_gd():
    problem = arena.get_problem("quadratic")
    plans = arena.momentum_plans(problem, betas=(0.0, 0.5), steps=(0.05, 0.09), max_epochs=200)
    assert [(p.options["beta"], p.lr) for p in plans] == [(0.0, 0.05), (0.0, 0.09),
                                                          (0.5, 0.025), (0.5, 0.045)]
    entries = arena.run_plans(problem, plans, seeds=2)
    gd = arena.run_arena(problem, ["sgd"], seeds=2, lr={"sgd": 0.09}, max_epochs=200)[0]
    assert [r.reached for r in entries[1].runs] == [r.reached for r in gd.runs]
    text = arena.momentum_table(problem, plans, entries)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0] == "| beta | s = 0.05 | s = 0.09 |" and len(table) == 4
    cell = arena.summary(entries[3])
    assert f"{cell['mean']:.0f}" in table[3]


BLOCKS = """# Arena

Some text the command keeps.

<!-- arena: --problem quadratic --optimizers sgd,bfgs,newton_plain --seeds 2 --epochs 40 -->
old tables, replaced
<!-- /arena -->

Between the blocks.

<!-- arena: --problem quadratic --momentum-grid --seeds 1 --epochs 50 -->
<!-- /arena -->
The end.
"""


def test_write_tables_rewrites_each_block_from_the_arena(tmp_path):
    doc = tmp_path / "arena.md"
    doc.write_text(BLOCKS)
    assert main(["arena", "--write-tables", str(doc), "--workers", "0"]) == 0
    text = doc.read_text()
    assert "old tables, replaced" not in text
    for kept in ("# Arena\n\nSome text the command keeps.\n", "Between the blocks.",
                 "<!-- /arena -->\nThe end.\n"):
        assert kept in text
    first, second = text.split("Between the blocks.")
    problem = arena.get_problem("quadratic")
    entries = arena.run_arena(problem, ["sgd", "bfgs", "newton_plain"], seeds=2, max_epochs=40)
    assert rows(first) == rows(arena.table(problem, entries, 40))
    plans = arena.momentum_plans(problem, max_epochs=50)
    grid = arena.momentum_table(problem, plans, arena.run_plans(problem, plans, seeds=1))
    assert [line for line in second.splitlines() if line.startswith("|")] == \
        [line for line in grid.splitlines() if line.startswith("|")]
    assert "`handgrad arena --problem quadratic --momentum-grid --seeds 1 --epochs 50`" in second
    # a second run rewrites the same blocks, not new ones
    assert main(["arena", "--write-tables", str(doc), "--workers", "0"]) == 0
    assert doc.read_text().count("<!-- arena:") == 2


@pytest.mark.parametrize("content, message", [
    ("# no blocks here\n", "has no arena block"),
    ("<!-- arena: --problem mnist -->\n<!-- /arena -->\n", "unknown arena problem 'mnist'"),
    ("<!-- arena: --seeds -->\n<!-- /arena -->\n", "invalid arena block '<!-- arena: --seeds"),
    ("<!-- arena: --workers 2 -->\n<!-- /arena -->\n", "--workers belongs on the command line"),
])
def test_write_tables_errors_name_the_file_and_block(tmp_path, capsys, content, message):
    doc = tmp_path / "doc.md"
    doc.write_text(content)
    assert main(["arena", "--write-tables", str(doc), "--workers", "0"]) == 2
    assert message in capsys.readouterr().err
    assert doc.read_text() == content          # nothing written


def test_write_tables_names_a_missing_file(tmp_path, capsys):
    assert main(["arena", "--write-tables", str(tmp_path / "none.md"), "--workers", "0"]) == 2
    assert "none.md" in capsys.readouterr().err


def test_bad_workers_are_refused(tmp_path, capsys):
    assert main(["arena", "--problem", "quadratic", "--optimizers", "sgd", "--workers", "-1",
                 "--out", str(tmp_path)]) == 2
    assert "invalid --workers: -1" in capsys.readouterr().err
    assert main(["arena", "--problem", "quadratic", "--optimizers", "sgd", "--workers", "0",
                 "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)]) == 2
    assert "invalid --workers: 0 together with --scheduler" in capsys.readouterr().err


def test_each_run_uses_one_blas_thread_wherever_it_runs():
    """Multi-threaded BLAS sums in another order; Newton's and CG's runs on the encoder turned
    that into other epoch counts in one process than in a Dask worker."""
    from threadpoolctl import threadpool_info

    problem = arena.get_problem("quadratic")
    build, seen = problem.build, []

    def recording(rng):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return build(rng)

    problem.build = recording
    arena.run_once(problem, "sgd", 0, 0.09, max_epochs=2)
    assert seen and set(seen) == {1}
