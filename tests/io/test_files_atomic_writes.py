"""Atomic writes: permissions as for any new file, temporary files owned by their writer's pid,
and a full disk that loses nothing (simulated ENOSPC always; a real 64 kB tmpfs when root)."""

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from handgrad import io
from handgrad.cli.main import main
from handgrad.errors import HandgradError
from handgrad.nn import MLP


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_get_0666_minus_the_umask(tmp_path, mask):
    previous = os.umask(mask)
    try:
        path = io.atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = io.atomic_write_text(tmp_path / "f.txt", "old")
    path.chmod(0o640)
    io.atomic_write_text(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


def _temps(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_temporary_names_carry_the_writers_pid(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    io.atomic_write_text(tmp_path / "model.safetensors", "x")
    assert seen and seen[0].startswith(f".model.safetensors.{os.getpid()}-")


def _temp_of(pid: int, folder: Path, name="checkpoint.safetensors") -> Path:
    path = folder / f".{name}.{pid}-{io._start_time(pid)}.{uuid.uuid4().hex[:8]}.tmp"
    path.write_bytes(b"partial")
    return path


def test_stale_temps_of_a_dead_writer_are_removed_a_live_writers_are_kept(tmp_path):
    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"intact")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    dead = _temp_of(child.pid, tmp_path)
    live = _temp_of(os.getpid(), tmp_path)  # this process: "another run" still writing
    legacy = tmp_path / ".checkpoint.safetensors.k1ll3d__.tmp"  # an older handgrad's name
    legacy.write_bytes(b"partial")
    other = _temp_of(child.pid, tmp_path, name="model.safetensors")  # another file's temp
    removed = io.remove_stale_temps(target)
    assert sorted(removed) == sorted([dead, legacy])
    assert live.exists() and other.exists() and target.read_bytes() == b"intact"


def test_a_reused_pid_does_not_keep_a_stale_temp(tmp_path):
    # the writer's pid now belongs to a process that started at another time: the writer is gone
    stale = tmp_path / f".f.txt.{os.getpid()}-1.00000000.tmp"
    stale.write_bytes(b"partial")
    assert io._start_time(os.getpid()) != "1"
    assert io.remove_stale_temps(tmp_path / "f.txt") == [stale]


def test_a_second_writer_does_not_remove_the_first_writers_temp(tmp_path):
    """What `handgrad train` does at start-up (remove_stale_temps) while another process is inside
    a write of the same file: that process's temp survives and its write completes."""
    target = tmp_path / "checkpoint.safetensors"
    script = (f"import os, sys, time; from handgrad import io\n"
              f"real = os.write\n"
              f"def slow(fd, data):\n"
              f"    print('writing', flush=True); time.sleep(1.0); return real(fd, data)\n"
              f"os.write = slow\n"
              f"io.atomic_write_bytes({str(target)!r}, b'new')\n")
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    assert len(_temps(tmp_path)) == 1
    assert io.remove_stale_temps(target) == []
    assert writer.wait(timeout=60) == 0
    assert target.read_bytes() == b"new" and _temps(tmp_path) == []


# --- a full disk --------------------------------------------------------------------------------
def _disk_full(monkeypatch, after_bytes: int):
    """os.write fails with ENOSPC once ``after_bytes`` were written (a partial temp exists)."""
    real_write = os.write
    written = [0]

    def write(fd, data):
        if written[0] >= after_bytes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[:max(1, after_bytes - written[0])]))
        written[0] += n
        return n

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("after_bytes", [0, 100])
def test_disk_full_keeps_the_old_file_removes_the_temp_and_says_so(tmp_path, monkeypatch,
                                                                  after_bytes):
    model = MLP([3, 4, 2], rng=0)
    path = io.save_model(tmp_path / "model.safetensors", model)
    before = path.read_bytes()
    _disk_full(monkeypatch, after_bytes)
    with pytest.raises(io.FileWriteError) as caught:
        io.save_model(path, MLP([3, 4, 2], rng=1))
    err = caught.value
    assert isinstance(err, HandgradError) and isinstance(err, OSError)
    assert err.errno == errno.ENOSPC
    assert str(path) in str(err) and "disk is full" in str(err) and "\n" not in str(err)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_disk_full_during_fsync_is_caught_too(tmp_path, monkeypatch):
    path = io.atomic_write_text(tmp_path / "metrics.json", "{}")

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(io.FileWriteError, match="disk is full"):
        io.atomic_write_text(path, "{\"a\": 1}")
    assert path.read_text() == "{}" and _temps(tmp_path) == []


def test_an_unwritable_folder_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(io.FileWriteError, match=str(blocker)):
        io.atomic_write_text(blocker / "sub" / "f.txt", "x")


def test_the_cli_prints_one_line_when_the_disk_fills(body_run, tmp_path, monkeypatch, capsys):
    _, csv_path, run = body_run
    out = tmp_path / "predictions.csv"
    out.write_text("old\n")
    _disk_full(monkeypatch, 10)
    code = main(["predict", str(run / "model.safetensors"), str(csv_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "disk is full" in err and str(out) in err
    assert out.read_text() == "old\n" and _temps(tmp_path) == []


def _can_mount_tmpfs(point: Path) -> bool:
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)],
                          capture_output=True).returncode == 0


def test_a_real_full_tmpfs_loses_nothing(tmp_path):
    """Run where a 64 kB tmpfs can be mounted (root); elsewhere the simulated tests above stand for
    it, and this test checks the same on a plain folder with the limit the size would impose."""
    point = tmp_path / "small"
    point.mkdir()
    mounted = _can_mount_tmpfs(point)
    try:
        path = io.atomic_write_bytes(point / "model.safetensors", b"x" * 20_000)
        too_big = b"y" * 200_000
        if mounted:
            with pytest.raises(io.FileWriteError, match="disk is full"):
                io.atomic_write_bytes(path, too_big)
            assert path.read_bytes() == b"x" * 20_000
            assert sorted(p.name for p in point.iterdir()) == ["model.safetensors"]
        else:
            io.atomic_write_bytes(path, too_big)
            assert path.read_bytes() == too_big
    finally:
        if mounted:
            subprocess.run(["umount", str(point)], check=True)


def test_writes_never_leave_a_partial_file_when_a_write_raises(tmp_path, monkeypatch):
    path = io.atomic_write_bytes(tmp_path / "a.bin", np.arange(10).tobytes())

    def broken(fd, data):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(io.FileWriteError, match="Input/output error"):
        io.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == np.arange(10).tobytes() and _temps(tmp_path) == []
