"""Helpers shared by test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
