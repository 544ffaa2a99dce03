"""kill -9 at random moments: every file naga writes is whole afterwards, or still the old one.

A child process writes in a loop (run.lock with a changing config; a ``@clicfg`` script writing
config.json and result.json; a sweep writing tasks.yaml), and the test SIGKILLs it after a random
delay, 20 rounds each. Then every file must read back whole: run.lock loads with
``naga.load_lock``, config.json and result.json parse as JSON, tasks.yaml parses and lists every
task. The writes are big (hundreds of kB) so that a kill often lands inside one; a YAML or JSON
text cut at a line boundary can still parse, so each check also verifies the content is the
complete version the writer meant (a padding whose length the counter fixes, every task listed).
Temp files a killed writer leaves must be hidden (``.<name>.<pid>....tmp``), never the target.

The delays come from a seeded generator, so a failing round can be replayed
(``NAGA_FAULT_SEED``).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from naga import load_lock
from naga._yaml import load_yaml

ROUNDS = 20
SEED = int(os.environ.get("NAGA_FAULT_SEED", "14"))
PAD = 7919  # the padding of write i is (i * PAD) % SIZE characters long: i fixes the content

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for child pids")


def _temp_of(name: str) -> re.Pattern[str]:
    """The temp files naga._atomic (and the lock's twin) create beside ``name``."""
    return re.compile(rf"^\.{re.escape(name)}\.\d+(\.\d+\.\d+)?\.tmp$")


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (every thread's), from /proc."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Writer:
    """A child process that writes in a loop; its output goes to a log, never to a pipe that
    could fill and stall it."""

    def __init__(self, folder: Path, script: str, *args: str) -> None:
        self.folder = folder
        self.log = folder / "writer.log"
        (folder / "writer.py").write_text(textwrap.dedent(script))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "writer.py", *args],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "NAGA_DEBUG": ""},
            )

    def wait_for(self, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"the writer ended ({self.proc.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the writer wrote nothing in {timeout} s: {self.tail()}")
            time.sleep(0.01)

    def kill(self) -> list[int]:
        """SIGKILL the writer; returns the pids of the children it had (sweep workers)."""
        children = _children(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        return children

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _kill_rounds(
    folder: Path,
    script: str,
    args: list[str],
    ready: Callable[[], bool],
    check: Callable[[int], None],
    max_delay: float,
    seed: int,
) -> int:
    """Run ``ROUNDS`` rounds of start, wait for ``ready``, sleep, SIGKILL, ``check(round)``;
    returns how many rounds left a temp file (a kill that landed inside a write)."""
    rng = random.Random(seed)
    inside_a_write = 0
    for round_ in range(ROUNDS):
        delay = rng.uniform(0, max_delay)
        before = set(_all_files(folder))
        writer = Writer(folder, script, *args)
        writer.wait_for(ready)
        time.sleep(delay)
        children = writer.kill()
        try:
            check(round_)
        except AssertionError as error:
            raise AssertionError(
                f"round {round_} (seed {seed}, killed {delay:.3f} s after the first write): "
                f"{error}\n{writer.tail()}"
            ) from error
        _assert_no_orphans(children)
        inside_a_write += any(p.endswith(".tmp") for p in set(_all_files(folder)) - before)
    return inside_a_write


def _all_files(folder: Path) -> list[str]:
    return [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names]


def _assert_no_orphans(children: list[int]) -> None:
    """The processes a killed writer had started (sweep workers) end with it."""
    deadline = time.monotonic() + 10
    left = [pid for pid in children if _alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [pid for pid in left if _alive(pid)]
    for pid in left:  # clean up what this test started before failing
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes {left} outlived their killed sweep"


def _assert_only_hidden_temps(folder: Path, names: set[str]) -> None:
    """Beside each target, nothing but the target itself and hidden temps of it."""
    for entry in os.listdir(folder):
        if entry in names or not any(entry.startswith(f".{n}.") for n in names):
            continue
        assert any(_temp_of(n).match(entry) for n in names), f"unexpected file {entry}"


# -- run.lock ---------------------------------------------------------------------------------

RUNLOCK_WRITER = f"""
    import itertools
    from naga import runlock

    for i in itertools.count():
        config = {{"i": i, "pad": "x" * ((i * {PAD}) % 300_000), "save_dir": "run"}}
        runlock(config=config, outputs=[])
"""


def test_run_lock_is_whole_after_kill_9_at_any_moment(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lock_file = run / "run.lock"
    seen: list[int] = []

    def check(round_: int) -> None:
        lock = load_lock(run)  # never partial: the old file or the new one
        config = lock["config"]
        assert len(config["pad"]) == (config["i"] * PAD) % 300_000, "a mixed or cut run.lock"
        assert {"environment", "prevs", "outputs", "repos", "data"} <= set(lock), set(lock)
        # The YAML itself, not only the parsed twin (.naga/lock.json) that load_lock prefers.
        text = load_yaml(lock_file.read_text(encoding="utf-8"))
        assert text["config"] == config and "prevs" in text
        twin = run / ".naga" / "lock.json"
        if twin.exists():  # a cache, written without fsync: whole or ignored, never an error
            try:
                json.loads(twin.read_text(encoding="utf-8"))
            except ValueError:
                pass
        _assert_only_hidden_temps(run, {"run.lock"})
        _assert_only_hidden_temps(run / ".naga", {"lock.json"})
        seen.append(config["i"])

    inside = _kill_rounds(
        tmp_path, RUNLOCK_WRITER, [], lock_file.exists, check, max_delay=0.6, seed=SEED
    )
    print(f"run.lock: {inside}/{ROUNDS} kills left a temp file (landed inside a write)")
    assert len(seen) == ROUNDS


def test_a_killed_writers_temp_files_are_cleaned_by_a_later_runlock(tmp_path: Path) -> None:
    from naga import runlock

    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".run.lock.12345.678.0.tmp"
    stale.write_text("lock_version: 2\nconfig: {cut")
    fresh = run / ".run.lock.12345.679.0.tmp"
    fresh.write_text("lock_version: 2\n")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    runlock(config={"save_dir": str(run)}, outputs=[])
    assert not stale.exists()
    assert fresh.exists()  # a writer may still be at work on it
    assert load_lock(run)["config"] == {"save_dir": str(run)}


# -- config.json and result.json --------------------------------------------------------------

CLICFG_WRITER = f"""
    import itertools
    from naga import clicfg

    class Config:
        i = 0
        pad = ""
        save_dir = "run"

    @clicfg(config_class=Config)
    def main(cfg):
        return {{"i": cfg.i, "pad": cfg.pad}}

    if __name__ == "__main__":
        for i in itertools.count():
            main(argv=["-o", f"i={{i}}", f"pad={{'y' * ((i * {PAD}) % 300_000)}}"])
"""


def _whole_json(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{path.name} does not end as naga writes it"
    data = json.loads(text)
    assert isinstance(data, dict), data
    return data


def test_config_and_result_json_are_whole_after_kill_9_at_any_moment(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def check(round_: int) -> None:
        config = _whole_json(run / "config.json")
        assert len(config["pad"]) == (config["i"] * PAD) % 300_000, "a mixed or cut config.json"
        if (run / "result.json").exists():
            result = _whole_json(run / "result.json")
            assert len(result["pad"]) == (result["i"] * PAD) % 300_000, "a cut result.json"
            assert result["i"] <= config["i"]  # the result of this config, or of an earlier one
        record = _whole_json(run / ".naga" / "record.json")
        assert record["status"] in ("running", "done"), record
        _assert_only_hidden_temps(run, {"config.json", "result.json"})
        _assert_only_hidden_temps(run / ".naga", {"record.json"})

    inside = _kill_rounds(
        tmp_path,
        CLICFG_WRITER,
        [],
        lambda: (run / "result.json").exists(),
        check,
        max_delay=0.5,
        seed=SEED + 1,
    )
    print(f"config.json, result.json: {inside}/{ROUNDS} kills left a temp file")


def test_a_run_killed_while_running_reads_as_died(tmp_path: Path) -> None:
    from naga._record import read_record

    writer = Writer(
        tmp_path,
        """
        import time
        from naga import clicfg

        class Config:
            save_dir = "run"

        @clicfg(config_class=Config)
        def main(cfg):
            open("started", "w").close()
            time.sleep(60)

        if __name__ == "__main__":
            main()
        """,
    )
    writer.wait_for((tmp_path / "started").exists)
    writer.kill()
    record = read_record(tmp_path / "run")
    assert record is not None and record["status"] == "died", record


# -- tasks.yaml -------------------------------------------------------------------------------

TASKS = 100
SWEEP_WRITER = """
    import itertools
    from naga import clicfg

    class Config:
        param = 0
        pad = ""
        save_dir = "results/sweep"

    @clicfg(config_class=Config)
    def main(cfg):
        return {"param": cfg.param}

    if __name__ == "__main__":
        for _ in itertools.count():
            main(argv=["--tasks", "tasks.txt", "--task_to", "param", "--force",
                       "-o", "pad=" + "z" * 2000])
"""


def test_tasks_yaml_is_whole_after_kill_9_at_any_moment(tmp_path: Path) -> None:
    (tmp_path / "tasks.txt").write_text("".join(f"{i}\n" for i in range(TASKS)))
    sweep = tmp_path / "results" / "sweep"
    statuses = {"pending", "running", "done", "failed", "interrupted", "timeout"}

    def check(round_: int) -> None:
        state = load_yaml((sweep / "tasks.yaml").read_text(encoding="utf-8"))
        tasks = state["tasks"]
        assert len(tasks) == TASKS, f"tasks.yaml lists {len(tasks)} of {TASKS} tasks"
        assert {t["label"] for t in tasks} == {f"param={i}" for i in range(TASKS)}
        assert all(t["status"] in statuses and t["key"] for t in tasks), tasks
        _assert_only_hidden_temps(sweep, {"tasks.yaml"})
        for task in tasks:  # each task's own files too: whole, or not written yet
            folder = sweep / task["label"]
            for name in ("config.json", "result.json"):
                if (folder / name).exists():
                    assert _whole_json(folder / name)["param"] == int(task["label"][6:])
            if folder.exists():
                _assert_only_hidden_temps(folder, {"config.json", "result.json"})

    inside = _kill_rounds(
        tmp_path,
        SWEEP_WRITER,
        [],
        lambda: (sweep / "tasks.yaml").exists(),
        check,
        max_delay=1.5,
        seed=SEED + 2,
    )
    print(f"tasks.yaml: {inside}/{ROUNDS} kills left a temp file")
    # What the killed sweeps left, a new sweep takes over: it runs to the end.
    once = textwrap.dedent(SWEEP_WRITER).replace("itertools.count()", "[0]")
    (tmp_path / "once.py").write_text(once.replace('"--force", ', ""))
    finished = subprocess.run(
        [sys.executable, "once.py"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Traceback" not in finished.stderr, finished.stderr[-3000:]
    tasks = load_yaml((sweep / "tasks.yaml").read_text(encoding="utf-8"))["tasks"]
    assert [t["status"] for t in tasks] == ["done"] * TASKS


def test_a_killed_writers_temp_files_are_never_outputs(tmp_path: Path) -> None:
    from naga import runlock

    run = tmp_path / "run"
    (run / ".naga").mkdir(parents=True)
    (run / "out.txt").write_text("x")
    for name in ("config.json", "result.json", "run.lock"):  # as _atomic._create_temp names them
        (run / f".{name}.4242.123456789.0.tmp").write_text('{"cut')
    lock = runlock(config={"save_dir": str(run)})
    assert lock["outputs"]["."]["files"] == 1, lock["outputs"]
