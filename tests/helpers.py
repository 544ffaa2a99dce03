"""Helpers shared by test modules (pytest puts this folder on sys.path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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


#: A sweep script whose tasks 3 and up sleep a minute (unless a file `fast` exists), each task
#: first leaving a `started-<param>` file: for tests that stop a sweep while tasks run.
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
    if cfg.param >= 3 and not Path("fast").exists():
        time.sleep(60)
    Path(cfg.save_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.save_dir) / "out.txt").write_text(str(cfg.param))

if __name__ == "__main__":
    main()
"""
