"""Helpers shared by test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def slurm_ready() -> bool:
    """A Slurm controller answers and its node takes jobs."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and any(
        s.startswith(("idle", "mixed", "alloc", "completing")) for s in done.stdout.split()
    )


needs_slurm = pytest.mark.skipif(
    not slurm_ready() and os.environ.get("NAGA_REQUIRE_SLURM") != "1",
    reason="no running Slurm here (scripts/slurm/setup.sh starts one; NAGA_REQUIRE_SLURM=1 makes this fail)",
)


@contextlib.contextmanager
def release_requeued(arrays: Callable[[], set[str]], *, settle_s: float = 2.0) -> Iterator[None]:
    """While active, start every requeued job of ``arrays()`` that Slurm holds back, once it has
    been held for ``settle_s`` seconds.

    Slurm keeps a requeued job pending for about two minutes (reason ``BeginTime``); an
    administrator may release it early with ``scontrol update JobId=... StartTime=now``, and so
    do these tests, to keep them short. Only the jobs of the test's own arrays are touched. Not
    at once: slurmd refuses a launch whose credential is no newer, to the second, than its
    revocation of the killed run's (``Job credential revoked``), so a job released within the
    second of its requeue fails. Each job's wait is counted from when it was first seen held.
    """
    stop = threading.Event()

    def release() -> None:
        held: dict[str, float] = {}  # job -> when first seen held (time.monotonic)
        while not stop.wait(0.5):
            mine = arrays()
            if not mine:
                continue
            queue = subprocess.run(
                ["squeue", "-h", "-r", "-j", ",".join(sorted(mine)), "-o", "%i %t %r"],
                capture_output=True,
                text=True,
                check=False,
            )
            if queue.returncode != 0:
                continue  # slurmctld busy: ask again, every clock kept
            now = time.monotonic()
            waiting = set()
            for line in queue.stdout.splitlines():
                fields = line.split()
                if fields[1:] == ["PD", "BeginTime"]:  # pending, held back until its begin time
                    job = fields[0]
                    waiting.add(job)
                    if now - held.setdefault(job, now) >= settle_s:
                        subprocess.run(
                            ["scontrol", "update", f"JobId={job}", "StartTime=now"],
                            capture_output=True,
                            check=False,
                        )
            held = {job: since for job, since in held.items() if job in waiting}

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dask_cluster(logs_dir: Path, *, nworkers: int, nthreads: int) -> Iterator[str]:
    """A real `dask scheduler` and `dask worker` on 127.0.0.1 (allowed-failures 0); yields the
    scheduler's address once every worker has joined, and stops them afterwards."""
    pytest.importorskip("distributed")
    from distributed import Client

    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    assert dask is not None
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with open(logs_dir / "dask.log", "w") as logs:
        procs = [
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                env=env,
                stdout=logs,
                stderr=logs,
            ),
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    str(nworkers),
                    "--nthreads",
                    str(nthreads),
                    "--no-dashboard",
                ],
                env=env,
                stdout=logs,
                stderr=logs,
            ),
        ]
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with Client(address, timeout="5s") as client:
                        client.wait_for_workers(nworkers, timeout=60)
                    break
                except (OSError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            yield address
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run_script(
    cwd: Path, script: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python SCRIPT ARGS`` in ``cwd`` as a user would: text output captured, no stdin."""
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _default_signals() -> None:
    # A test run as a background job (or under nohup) inherits SIGINT (or SIGHUP) ignored, and
    # Python keeps an ignored signal ignored: the child would never see the signal sent to it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def popen_script(cwd: Path, script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start ``python SCRIPT ARGS`` in ``cwd`` for a test that signals it: stderr piped, and
    SIGINT, SIGTERM and SIGHUP at their defaults whatever this test process inherited."""
    return subprocess.Popen(
        [sys.executable, script, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals,  # runs in the child, before exec
        **popen,
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> None:
    """Poll ``condition`` until it holds; fail when ``proc`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.05)


#: A sweep script whose tasks 3 and up sleep a minute (unless a file `fast` exists), each task
#: first leaving a `started-<param>` file: for tests that stop a sweep while tasks run. Task 0
#: raises KeyboardInterrupt itself (no Ctrl-C happened).
SLOW_SCRIPT = """
import time
from pathlib import Path
from naga import clicfg

class Config:
    param = 1
    save_dir = "results/slow"

@clicfg(config_class=Config)
def main(cfg: Config):
    Path(f"started-{cfg.param}").write_text("")
    if cfg.param == 0:
        raise KeyboardInterrupt
    if cfg.param >= 3 and not Path("fast").exists():
        time.sleep(60)
    Path(cfg.save_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.save_dir) / "out.txt").write_text(str(cfg.param))

if __name__ == "__main__":
    main()
"""
