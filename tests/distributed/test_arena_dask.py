"""The arena's runs as Dask tasks give the entries of the one-process arena."""

from handgrad.distributed.arena import run_arena_on_dask
from handgrad.distributed.sweep import dask_client
from handgrad.lab import arena


def test_arena_on_dask_matches_the_serial_arena():
    names = ["sgd", "rprop", "lm"]
    with dask_client(workers=2) as client:
        entries = run_arena_on_dask("xor", names, seeds=2, max_epochs=40, client=client)
    serial = arena.run_arena(arena.get_problem("xor"), names, seeds=2, max_epochs=40)
    assert [e.optimizer for e in entries] == names
    for got, want in zip(entries, serial):
        assert (got.lr, got.batch, got.budget, got.error) == (want.lr, want.batch, want.budget,
                                                              want.error)
        assert [r.curve for r in got.runs] == [r.curve for r in want.runs]
        assert [r.reached for r in got.runs] == [r.reached for r in want.runs]
    assert all(len(e.runs) == 2 for e in entries if e.error is None)
    assert any(len(e.runs[0].curve) > 2 for e in entries if e.runs)
