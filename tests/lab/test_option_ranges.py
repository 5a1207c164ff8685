"""Every numeric option of every experiment: NaN, inf, 0 and negative values either run or give a
one-line error naming the option (no traceback). The spans are declared once per config
(``RANGES``) and checked by ``make_config``; values a span accepts are run on a tiny config."""

import dataclasses

import pytest

from cli_helpers import assert_one_line_error
from handgrad import lab
from handgrad.cli.main import main
from handgrad.errors import OptionError
from handgrad.lab.common import FINITE, Span, _numeric

# Options that make each experiment run in well under a second.
TINY = {
    "explain": {},
    "quadratic": {"max_steps": 60, "plot_steps": 5},
    "trajectories": {"functions": ("quadratic",), "optimizers": ("gd",), "steps": 5},
    "perceptron-vs-backprop": {"epochs": 30, "seeds": 2},
    "hessian": {"sizes": (1, 3, 1), "samples": 8, "sweep_points": 3, "steps": 10,
                "bisections": 0},
    "saddle": {"steps": 3, "samples": 10, "optimizers": ("gd",)},
    "decay": {"epochs": 2, "samples": 16, "schedules": ("constant",)},
    "surface": {"steps": 2, "grid": 5, "samples": 8, "hidden": (2,)},
    "vanishing": {"depth": 2, "width": 2, "epochs": 1, "samples": 8, "batch_size": 8,
                  "activations": ("tanh",), "batchnorm": False, "gain": 0.0},
    "cost": {"epochs": 5},
    "convergence-rates": {"steps": 10, "convex_steps": 100},
    "batching": {"epochs": 2, "samples": 16, "batch_sizes": (1, 4), "draws": 10, "hidden": 2},
    "overfitting": {"steps": 100, "every": 10, "hidden": 4, "val_samples": 4},
    "escape": {"steps": 10, "seeds": 2},
    "newton-fails": {"grid": 3, "steps": 1, "net_starts": 1, "net_steps": 1, "samples": 4},
    "pretraining": {"samples": 20, "epochs": 1, "pretrain_epochs": 1, "hidden": (2,)},
}
VALUES = ("nan", "inf", "-inf", "0", "-1")


def _numeric_fields(config_cls):
    """(name, default, integer, is_list) of every numeric option."""
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        samples = list(default) if isinstance(default, (tuple, list)) else [default]
        if samples and all(_numeric(v) for v in samples):
            integer = all(isinstance(v, int) for v in samples)
            yield f.name, default, integer, isinstance(default, (tuple, list))


def _argv(options: dict) -> list[str]:
    argv = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (tuple, list)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _cases():
    for name, experiment in lab.EXPERIMENTS.items():
        config_cls, _ = experiment.load()
        for option, default, integer, many in _numeric_fields(config_cls):
            for text in VALUES:
                yield pytest.param(name, option, text, id=f"{name}-{option}={text}")


def test_every_numeric_option_declares_its_span():
    assert set(TINY) == set(lab.EXPERIMENTS)
    for name, experiment in lab.EXPERIMENTS.items():
        config_cls, _ = experiment.load()
        spans = config_cls.RANGES
        for option, *_ in _numeric_fields(config_cls):
            assert isinstance(spans.get(option), Span), f"{name}: {option} has no span"


@pytest.mark.parametrize("name,option,text", list(_cases()))
def test_bad_numbers_give_one_line_errors(name, option, text, capsys, tmp_path):
    config_cls, _ = lab.EXPERIMENTS[name].load()
    default, integer, many = next((d, i, m) for o, d, i, m in _numeric_fields(config_cls)
                                  if o == option)
    value = float(text)
    if value == (default[0] if many else default):
        return                                   # the default itself: covered by every run
    span = config_cls.RANGES.get(option, FINITE)
    refused = not span.holds(value) or (integer and not value.is_integer())
    options = dict(TINY[name])
    options.pop(option, None)
    flag = "--" + option.replace("_", "-")
    if not refused:
        # Accepted: it runs (without drawing, to keep this quick) and reports numbers, or refuses
        # with an option error.
        value = [int(value) if integer else value] if many else int(value) if integer else value
        try:
            result = lab.run(name, out_dir=None, verbose=False, **options, **{option: value})
        except OptionError as err:
            assert option in str(err) and "\n" not in str(err)
            return
        assert "nan" not in result.verdict.replace("nano", ""), result.verdict
        return
    argv = ["lab", name, "--quiet", "--no-gif", "--out", str(tmp_path), *_argv(options),
            f"{flag}={text}"]
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:
        # cli/lab.py's per-experiment parser is a plain argparse one (requested: main's Parser):
        # an integer option given "nan" ends in a usage block whose last line names the flag.
        code, err = exit_.code, capsys.readouterr().err
        assert code == 2 and integer and flag in err.strip().splitlines()[-1], err
        return
    assert_one_line_error(code, capsys.readouterr().err, [flag])
