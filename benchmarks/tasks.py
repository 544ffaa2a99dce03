"""Task dispatch: naga's local backend against a bare joblib loop and Hydra's joblib launcher.

Run: .venv/bin/python benchmarks/tasks.py. Two cases: 20 tasks of 0.5 s on 2 workers (ideal 5 s),
and 200 trivial tasks on 2 workers (per-task overhead).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAGA = """
import time
from naga import clicfg

class Config:
    seconds = 0.0
    i = 0

@clicfg(config_class=Config)
def main(cfg: Config):
    time.sleep(cfg.seconds)

if __name__ == "__main__":
    main()
"""
JOBLIB = """
import sys, time
from joblib import Parallel, delayed

def task(seconds, i):
    time.sleep(seconds)

if __name__ == "__main__":
    seconds, count = float(sys.argv[1]), int(sys.argv[2])
    Parallel(n_jobs=2)(delayed(task)(seconds, i) for i in range(count))
"""
HYDRA = """
import time
from dataclasses import dataclass
import hydra
from hydra.core.config_store import ConfigStore

@dataclass
class Config:
    seconds: float = 0.0
    i: int = 0

ConfigStore.instance().store(name="config", node=Config)

@hydra.main(version_base=None, config_name="config")
def main(cfg: Config):
    time.sleep(cfg.seconds)

if __name__ == "__main__":
    main()
"""


def wall(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is not installed
        return False


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "naga_task.py").write_text(NAGA)
        Path(tmp, "joblib_task.py").write_text(JOBLIB)
        Path(tmp, "hydra_task.py").write_text(HYDRA)
        for seconds, count in ((0.5, 20), (0.0, 200)):
            Path(tmp, "tasks.txt").write_text("".join(f"{i}\n" for i in range(count)))
            results = {
                "bare joblib loop (2 workers)": wall(
                    [sys.executable, "joblib_task.py", str(seconds), str(count)], tmp
                ),
                "naga --tasks --n_jobs 2": wall(
                    [
                        sys.executable,
                        "naga_task.py",
                        "--tasks",
                        "tasks.txt",
                        "--task_to",
                        "i",
                        "-o",
                        f"seconds={seconds}",
                        "--n_jobs",
                        "2",
                    ],
                    tmp,
                ),
            }
            if _installed("hydra_plugins.hydra_joblib_launcher"):
                results["hydra joblib launcher (2 jobs)"] = wall(
                    [
                        sys.executable,
                        "hydra_task.py",
                        "-m",
                        f"seconds={seconds}",
                        f"i=range(0,{count})",
                        "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=2",
                        f"hydra.sweep.dir={tmp}/multirun",
                    ],
                    tmp,
                )
            ideal = seconds * count / 2
            print(f"\n{count} tasks of {seconds} s on 2 workers (ideal {ideal:.1f} s)")
            base = results["bare joblib loop (2 workers)"]
            for name, value in results.items():
                overhead = (value - ideal) / count * 1000
                print(
                    f"  {name:<34} {value:7.2f} s   {value / base:5.2f}x joblib   {overhead:6.1f} ms/task over ideal"
                )


if __name__ == "__main__":
    main()
