"""handgrad lab NAME [options]: options from the config dataclasses, files written, errors named."""

import numpy as np
import pytest

from handgrad import lab
from handgrad.cli.lab import _parse_list, experiment_parser
from handgrad.cli.main import main


def test_quadratic_from_the_command_line(tmp_path, capsys):
    code = main(["lab", "quadratic", "--out", str(tmp_path), "--no-gif", "--a", "4",
                 "--factors", "0.5,2.5"])
    assert code == 0
    png = tmp_path / "quadratic.png"
    assert png.exists() and 10_000 < png.stat().st_size < 300_000
    assert not (tmp_path / "quadratic.gif").exists()
    out = capsys.readouterr().out
    assert "eta_opt = 1/a = 0.25" in out and "divergent" in out


def test_every_experiment_has_a_parser_with_its_options():
    for name in lab.EXPERIMENTS:
        parser = experiment_parser(name)
        args = parser.parse_args(["--out", "x"])
        assert str(args.out) == "x"
    args = experiment_parser("hessian").parse_args(["--sizes", "1,4,1", "--l2", "0.01"])
    assert args.sizes == (1, 4, 1) and args.l2 == 0.01


def test_list_parsing():
    assert _parse_list("1, 2.5,adam") == (1, 2.5, "adam")


def test_errors_are_named(capsys):
    with pytest.raises(ValueError, match="bogus"):
        lab.run("quadratic", bogus=1)
    with pytest.raises(ValueError, match="lab experiment"):
        lab.get_experiment("nope")
    assert main(["lab", "quadratic", "--a", "-1", "--out", "unused"]) == 2
    assert "invalid a (--a): -1 (expected a finite number > 0)" in capsys.readouterr().err
    try:                               # argparse's usage error: exit status 2 either way
        code = main(["lab", "nope"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2 and "nope" in capsys.readouterr().err


def test_run_returns_data_without_writing(tmp_path):
    res = lab.run("quadratic", out_dir=None, verbose=False, factors=(0.5,))
    assert res.files == [] and res.runs_1d[0].observed == "monotone"
    assert isinstance(res.runs_1d[0].path, np.ndarray)


def test_a_value_argparse_rejects_is_one_line(capsys):
    """The experiment's own parser reports as every command does: one line, exit 2, no usage."""
    from cli_helpers import assert_one_line_error
    from handgrad.cli.main import main

    code = main(["lab", "explain", "--seed", "nan"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, ["handgrad lab explain", "--seed", "'nan'"])
    assert "usage:" not in err
