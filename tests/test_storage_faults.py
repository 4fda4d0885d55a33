"""The disk under a run fails: a small tmpfs filled mid-run (the run is marked failed, naming the file,
and resumes once there is room), and a read-only workspace (`runs ls`, `runs show` and
`report --out elsewhere` still work). Both need mounts, so root; elsewhere they are skipped, saying why."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.cli import (
    briefcut,
    error_lines,
    last_json,
    only_run,
    run_status,
    spawn,
    tiny_brief,
    wait_stopped,
)
from fixtures.probe import probe_mp4


def mount(*args: str) -> None:
    """`mount ARGS`, or skip the test where mounting is not permitted (not root, no CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: room for the tiny run's workspace (~4 MiB), and quick to fill."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write zeros until the disk is full, to the last block; the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_disk_filled_mid_run_fails_the_run_naming_the_file_and_resume_finishes_it(
    tmp_path: Path, small_disk: Path
) -> None:
    ws = small_disk / "ws"
    proc = spawn(ws, "run", str(tiny_brief(tmp_path)), "--json", BRIEFCUT_FAULT="after_render_write:stop")
    wait_stopped(proc)
    filler = fill(small_disk)
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    (line,) = error_lines(err)
    assert "no space left" in line.lower() and str(ws) in line, line
    run = run_status(ws, only_run(ws))
    assert run["status"] == "failed" and "space left" in run["error"].lower()

    filler.unlink()
    resumed = briefcut(ws, "resume", run["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = last_json(resumed.stdout)
    assert result["status"] == "done" and probe_mp4(Path(result["cuts"][0]["path"]))["frames"] == 96


@pytest.fixture
def read_only_workspace(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A workspace with one finished run, seen through a read-only bind mount (root is not kept out by
    file modes; a read-only mount keeps everyone out)."""
    ws, ro = tmp_path / "ws", tmp_path / "ro"
    done = briefcut(ws, "run", str(tiny_brief(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    ro.mkdir()
    mount("--bind", str(ws), str(ro))
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        yield ro, last_json(done.stdout)["run_id"]
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=True)


def test_a_read_only_workspace_can_be_listed_shown_and_reported_elsewhere(
    tmp_path: Path, read_only_workspace: tuple[Path, str]
) -> None:
    ro, run_id = read_only_workspace
    before = sorted(p.name for p in ro.iterdir())
    listed = briefcut(ro, "runs", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    shown = briefcut(ro, "runs", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert last_json(shown.stdout)["status"] == "done"
    reported = briefcut(ro, "report", run_id, "--out", str(tmp_path / "report"), "--json")
    assert reported.returncode == 0, reported.stderr
    report = Path(last_json(reported.stdout)["report"])
    assert report.is_relative_to(tmp_path / "report") and report.stat().st_size > 0
    assert sorted(p.name for p in ro.iterdir()) == before

    refused = briefcut(ro, "report", run_id)  # its default folder is in the workspace
    assert refused.returncode != 0
    assert error_lines(refused.stderr) == [refused.stderr.strip()] and str(ro) in refused.stderr
