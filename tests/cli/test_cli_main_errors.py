"""cli/main.py: a user's error is one line on stderr and exit code 2; a bug keeps its traceback."""

import errno

import numpy as np
import pytest

import handgrad.cli.train as train_command
from handgrad.cli.main import main
from handgrad.errors import OptionError


def raising(exc_factory):
    def run(args):
        raise exc_factory()
    return run


USER_ERRORS = [
    (lambda: OptionError("invalid --x: 3 (expected y)"), ["invalid --x: 3"]),
    (lambda: PermissionError(errno.EACCES, "Permission denied", "/root/secret.csv"),
     ["Permission denied", "/root/secret.csv"]),
    (lambda: OSError(errno.ENOSPC, "No space left on device", "runs/x/model.safetensors"),
     ["disk full while writing runs/x/model.safetensors", "nothing was lost"]),
    (lambda: IsADirectoryError(errno.EISDIR, "Is a directory", "data"), ["data is a folder"]),
    (lambda: FileNotFoundError(errno.ENOENT, "No such file or directory", "x.csv"),
     ["No such file or directory: x.csv"]),
    (lambda: MemoryError(), ["not enough memory"]),
    (lambda: RuntimeError("Symlink loop from '/tmp/a'"), ["Symlink loop", "/tmp/a"]),
    (lambda: OptionError("a message\nover two lines"), ["a message over two lines"]),
]


@pytest.mark.parametrize("factory, needles", USER_ERRORS, ids=range(len(USER_ERRORS)))
def test_user_errors_are_one_line(monkeypatch, capsys, factory, needles):
    monkeypatch.setattr(train_command, "run", raising(factory))
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("handgrad train: error: "), err
    for needle in needles:
        assert needle in lines[0]


def wrong_call(args):
    return np.zeros(3).reshape(2, 2)  # a ValueError from inside NumPy: a bug, not the user's


def bad_signature(args):
    return sorted(1, 2, 3)  # a TypeError from a wrong call


BUGS = [
    (raising(lambda: KeyError("settings")), KeyError),
    (raising(lambda: AttributeError("no attribute 'x'")), AttributeError),
    (raising(lambda: RuntimeError("something else")), RuntimeError),
    (wrong_call, ValueError),
    (bad_signature, TypeError),
]


@pytest.mark.parametrize("run, kind", BUGS, ids=[b[1].__name__ for b in BUGS])
def test_bugs_keep_their_traceback(monkeypatch, run, kind):
    monkeypatch.setattr(train_command, "run", run)
    with pytest.raises(kind):
        main(["train"])


def test_handgrad_traceback_shows_user_errors_too(monkeypatch):
    monkeypatch.setattr(train_command, "run", raising(lambda: OptionError("invalid --x: 3")))
    monkeypatch.setenv("HANDGRAD_TRACEBACK", "1")
    with pytest.raises(OptionError):
        main(["train"])


def test_help_still_exits_zero(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "--help"])
    assert caught.value.code == 0
    assert "--resume" in capsys.readouterr().out
