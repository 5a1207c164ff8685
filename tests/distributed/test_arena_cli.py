"""`handgrad arena`: the arena's runs as Dask tasks (the default, here on one worker) give the
tables the one-process arena (`--workers 0`) gives (issue 16)."""

from handgrad.cli.main import main

ARGS = ["arena", "--problem", "xor", "--optimizers", "sgd,rprop", "--seeds", "2", "--epochs", "30"]


def tables(out):
    text = (out / "arena_tables.md").read_text()
    return [line for line in text.splitlines() if line.startswith("|")]


def test_the_arena_on_a_local_dask_cluster_matches_one_process(tmp_path):
    assert main([*ARGS, "--workers", "0", "--out", str(tmp_path / "one")]) == 0
    assert main([*ARGS, "--workers", "1", "--out", str(tmp_path / "dask")]) == 0
    one, dask = tables(tmp_path / "one"), tables(tmp_path / "dask")
    assert len(one) > 2
    # the time column differs; the rest (epochs reached, spread, failures) must not
    assert without_time(dask) == without_time(one)


def without_time(rows):
    return [row.rsplit("|", 2)[0] for row in rows]


def test_the_default_is_the_embedded_dask_cluster(tmp_path, monkeypatch):
    """Without --workers or --scheduler every run is a task of an embedded cluster (one worker
    per core; one here) and the tables are those of --workers 0."""
    import handgrad.distributed.arena as dask_arena
    import handgrad.distributed.sweep as sweep

    calls = []
    real = dask_arena.run_plans_on_dask

    def counting(spec, *args, **kwargs):
        calls.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(dask_arena, "run_plans_on_dask", counting)
    monkeypatch.setattr(sweep, "default_workers", lambda: 1)
    assert main([*ARGS, "--out", str(tmp_path / "default")]) == 0
    assert calls == ["xor"]
    assert main([*ARGS, "--workers", "0", "--out", str(tmp_path / "one")]) == 0
    assert calls == ["xor"]
    assert without_time(tables(tmp_path / "default")) == without_time(tables(tmp_path / "one"))
