"""`handgrad arena --workers N`: the arena's runs as Dask tasks give the tables the one-process
arena gives (issue 16)."""

from handgrad.cli.main import main

ARGS = ["arena", "--problem", "xor", "--optimizers", "sgd,rprop", "--seeds", "2", "--epochs", "30"]


def tables(out):
    text = (out / "arena_tables.md").read_text()
    return [line for line in text.splitlines() if line.startswith("|")]


def test_the_arena_on_a_local_dask_cluster_matches_one_process(tmp_path):
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    assert main([*ARGS, "--workers", "1", "--out", str(tmp_path / "dask")]) == 0
    one, dask = tables(tmp_path / "one"), tables(tmp_path / "dask")
    assert len(one) > 2
    # the time column differs; the rest (epochs reached, spread, failures) must not
    assert without_time(dask) == without_time(one)


def without_time(rows):
    return [row.rsplit("|", 2)[0] for row in rows]
