"""Helpers for tests that run the `handgrad` command in-process (a module of its own: every test
folder may have a conftest.py, so `from conftest import ...` is ambiguous)."""

from handgrad.cli.main import main


def train_run(tmp, *args):
    """`handgrad train` into tmp; returns the run folder (args must contain --name)."""
    code = main(["train", "--no-progress", "--runs-dir", str(tmp), *args])
    assert code == 0
    return tmp / args[args.index("--name") + 1]


def run_error(capsys, *argv):
    """Run the CLI, expect exit code 2, return what it wrote to stderr."""
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def assert_one_line_error(code, err, needles):
    """Exit code 2, no traceback, one line on stderr holding every needle."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
