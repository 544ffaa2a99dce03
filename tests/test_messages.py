"""The error messages of docs/errors.md, run for real: the docs are the snapshots.

In the spirit of tyro's ``test_error_message_snapshots.py``, but with the expected text kept in
the documentation, so that the docs and the code cannot drift apart. Each ```` ```console ````
block of docs/errors.md runs in a fresh copy of examples/quickstart committed to git. Each
``$ command`` line runs through bash, with ``python`` being this interpreter and ``naga`` being
``python -m naga``; the lines after it, up to the next ``$``, are its exact stderr. A command with
lines after it must exit 2 and print nothing on stdout; one without must print nothing on stderr
and exit 0 (it sets up a file).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
QUICKSTART = ROOT / "examples" / "quickstart"


class Step:
    """One ``$ command`` of a block and the stderr lines the docs show for it."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.stderr: list[str] = []


def console_blocks(text: str) -> list[list[Step]]:
    """The ```` ```console ```` blocks of a Markdown text, as lists of steps."""
    blocks = []
    for body in re.findall(r"^```console\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        steps: list[Step] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            else:
                assert steps, f"output before any command in a console block: {line!r}"
                steps[-1].stderr.append(line)
        blocks.append(steps)
    return blocks


BLOCKS = console_blocks(DOC.read_text(encoding="utf-8"))


def test_the_docs_cover_the_messages_that_matter() -> None:
    commands = " ".join(step.command for block in BLOCKS for step in block)
    shown = "\n".join(line for block in BLOCKS for step in block for line in step.stderr)
    for needle in (
        "expects int, got 'abc'",  # a bad override type
        "Did you mean 'param'?",  # an unknown key
        "line 3 is not valid YAML",  # invalid YAML, with its line
        "has no experiment 'process_v9'",  # an unknown experiment
        "holds a literal \\n",  # a tasks file written with echo
        "no run.lock in 'results/x'",  # a missing run.lock
        'pip install "naga-runs[slurm]"',  # a missing extra
    ):
        assert needle in shown, needle
    assert "naga status results/x" in commands
    assert sum(len(block) for block in BLOCKS) >= 20


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``python`` and ``naga`` on PATH, and a submitit that cannot be imported.

    submitit is installed in the shared test environment and cannot be uninstalled there, so the
    missing-extra example puts first on PYTHONPATH a stub package whose import fails, exactly as
    an import fails where the extra is not installed.
    """
    base = tmp_path_factory.mktemp("tools")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for name, extra in (("python", ""), ("naga", " -m naga")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{extra} "$@"\n')
        (bin_dir / name).chmod(0o755)
    stub = base / "stubs" / "submitit"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('raise ImportError("no module named submitit (a stub)")\n')
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(stub.parent),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
        "LC_ALL": "C.UTF-8",
    }


def quickstart_project(folder: Path, env: dict[str, str]) -> Path:
    project = folder / "project"
    shutil.copytree(QUICKSTART, project)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)
    return project


@pytest.mark.parametrize(
    "steps", BLOCKS, ids=[block[-1].command.split(" ", 1)[-1][:40] for block in BLOCKS]
)
def test_documented_messages(steps: list[Step], tmp_path: Path, tools: dict[str, str]) -> None:
    project = quickstart_project(tmp_path, tools)
    for step in steps:
        done = subprocess.run(
            ["bash", "-c", step.command],
            cwd=project,
            env=tools,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        expected = "".join(f"{line}\n" for line in step.stderr)
        assert done.stderr == expected, f"$ {step.command}"
        if step.stderr:
            assert (done.returncode, done.stdout) == (2, ""), f"$ {step.command}"
        else:
            assert done.returncode == 0, f"$ {step.command}"
