"""The malicious-file suite (issue 13): crafted model and checkpoint files, each loaded through
``io.load_model``, the checkpoint loader and ``handgrad info / predict / evaluate``.

Every crafted file must give a clear error (a ModelFileError, or exit code 2 with one line, naming
the file), a valid one must load, nothing in a file may execute, and no load may take more than
200 MB: the files are loaded in a child process (crafted_files.py) whose peak resident memory is
read with ``resource``.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import crafted_files
from crafted_files import CASES

PEAK_LIMIT = 200 * 2**20


def run_child(*args, timeout):
    """``python crafted_files.py ARGS`` as a grandchild, through /bin/sh: Linux carries the parent's
    peak RSS over an exec into the child's ru_maxrss (a child of a 500 MB pytest starts at 500 MB
    and would hide a 300 MB load); a child of the small shell starts from the shell's."""
    return subprocess.run(["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable,
                           crafted_files.__file__, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("malicious")
    plan = crafted_files.write_cases(folder)
    plan_path, results_path = folder / "plan.json", folder / "results.json"
    plan_path.write_text(json.dumps(plan))
    child = run_child(plan_path, results_path, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(results_path.read_text())
    return plan, results, {r["name"]: r for r in results["results"]}


def test_the_suite_has_at_least_60_crafted_files():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert sum(case.expect == "clear" for case in CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_entry_point_gives_the_expected_outcome(suite, case):
    _, _, by_name = suite
    outcomes = by_name[case.name]["outcomes"]
    wrong = {entry: got for entry, got in outcomes.items() if got != case.expect}
    assert not wrong, f"{case.name}: expected {case.expect} everywhere, got {wrong}"


def test_nothing_in_a_file_executes(suite):
    plan, _, _ = suite
    assert not Path(plan["marker"]).exists()


def test_peak_memory_of_loading_any_file_stays_under_200_mb(suite):
    _, results, by_name = suite
    growth = results["final_maxrss"] - results["baseline_maxrss"]
    worst = max(by_name.values(), key=lambda r: r["maxrss_growth"])
    assert growth < PEAK_LIMIT, (f"peak grew by {growth / 2**20:.0f} MB while loading; the "
                                 f"largest step: {worst['name']} ({worst['maxrss_growth']} bytes)")


@pytest.mark.parametrize("mebibytes", [0, 300])
def test_the_memory_measurement_sees_an_allocation(mebibytes):
    """The control for the test above: the same measurement in the same kind of child sees 300 MB
    allocated (so a load that allocated them would fail the limit) and not a load that did not."""
    child = run_child("--allocate", mebibytes, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    growth = int(child.stdout)
    assert (growth > PEAK_LIMIT) == (mebibytes * 2**20 > PEAK_LIMIT), growth
