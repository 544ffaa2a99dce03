"""The readers and the writer under every part of naga: YAML/JSON loading, atomic writes, task
sources. Regressions of issue 14 (items 10, 12, 13, 16)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from naga._errors import TaskError
from naga._yaml import YAMLError, YAMLRefused, load_json, load_yaml, yaml_problem
from naga.launch import SweepOptions
from naga.launch._sources import load_tasks

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_at_once() -> None:
    # Issue 14.12: 9**9 strings in 400 bytes passed the loader, then took >60 s and 4 GB to
    # interpolate; the refusal costs one visit per distinct list.
    assert len(LAUGHS) < 400
    with pytest.raises(YAMLRefused, match=r"aliases \(\*name\) expand to more than 1,000,000"):
        load_yaml(LAUGHS)


def test_aliases_within_reason_still_load() -> None:
    data = load_yaml("base: &b {lr: 0.1}\na: *b\nb: {<<: *b, lr: 0.2}\n")
    assert data == {"base": {"lr": 0.1}, "a": {"lr": 0.1}, "b": {"lr": 0.2}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", "contains itself"),
        ("x: " + "[" * 300 + "]" * 300 + "\n", "nested more than 200 levels"),
        ("a: 1\nb: 2\na: 3\n", "found duplicate key 'a' (first on line 1)"),
        ("a:\n  x: 1\n  x: 2\n", "found duplicate key 'x' (first on line 2)"),
        ("blob: !!binary aGVsbG8=\n", "!!binary value cannot go in a config"),
    ],
)
def test_yaml_refusals(text: str, message: str) -> None:
    with pytest.raises(YAMLError) as info:
        load_yaml(text)
    assert message in yaml_problem(info.value)[1]


def test_yaml_timestamps_stay_text() -> None:
    # Issue 14.13: dates became datetime objects that config.json cannot hold.
    data = load_yaml(
        "d: 2024-01-01\nt: 2024-01-01 10:00:00\nl: [2024-01-01]\nq: !!timestamp 2024-02-02\n"
    )
    assert data == {
        "d": "2024-01-01",
        "t": "2024-01-01 10:00:00",
        "l": ["2024-01-01"],
        "q": "2024-02-02",
    }


def test_json_duplicate_keys_name_the_line() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        load_json('{"a": {"b": 1, "c": 2},\n "b": 1,\n "a": 3}')
    assert (info.value.msg, info.value.lineno) == (
        "duplicate key 'a' (first on line 1)",
        3,
    )
    assert load_json('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


WRITE = """
import sys
from naga._atomic import atomic_write_text
atomic_write_text(sys.argv[1], "x")
"""


@pytest.mark.parametrize(("umask", "expected"), [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    # Issue 14.10: files were forced to 0644 whatever the umask. A child process, so that this
    # test never changes the umask of the test process.
    target = tmp_path / "sub" / "run.lock"
    subprocess.run(
        [sys.executable, "-c", WRITE, str(target)],
        check=True,
        preexec_fn=lambda: os.umask(umask),  # no threads in the child yet
    )
    assert stat.S_IMODE(target.stat().st_mode) == expected
    assert not [p for p in target.parent.iterdir() if p.name != "run.lock"]


def test_atomic_write_creates_folders_like_mkdir_p(tmp_path: Path) -> None:
    from naga._atomic import atomic_write_text

    atomic_write_text(tmp_path / "results" / "pre" / ".." / "v2" / "config.json", "{}")
    assert (tmp_path / "results" / "v2" / "config.json").read_text() == "{}"


def _tasks(tmp_path: Path, name: str, text: str | bytes) -> list[object]:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return [t.value for t in load_tasks(SweepOptions(tasks=str(path), task_to="param"), {})]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.csv", "a,b\n1,2,3\n", "line 2 has 3 cells where the header has 2"),
        ("t.csv", "a,b,c\n1,2\n", "line 2 has 2 cells where the header has 3"),
        ("t.tsv", "a\tb\n1\t2\t3\t4\n", "line 2 has 4 cells where the header has 2"),
        ("t.csv", "a,b,a\n1,2,3\n", "the header names column 'a' twice (columns 1 and 3)"),
        ("t.json", '[{"a": 1,\n  "a": 2}]', "line 2 is not valid JSON: duplicate key 'a'"),
        ("t.yml", "- {a: 1, a: 2}\n", "line 1 is not valid YAML: found duplicate key 'a'"),
        ("t.yml", "- !!binary aGVsbG8=\n", "line 1 is refused: a !!binary value"),
        ("t.txt", b"caf\xe9\n", "is not UTF-8 text"),
    ],
)
def test_bad_task_files(tmp_path: Path, name: str, text: str | bytes, message: str) -> None:
    # Issue 14.16: a ragged row reported the wrong count, duplicate headers and keys were
    # silently last-wins.
    with pytest.raises(TaskError) as info:
        _tasks(tmp_path, name, text)
    assert message in str(info.value)
    assert info.value.path == str(tmp_path / name)


def test_a_task_alias_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"t\.yml' is refused: its aliases"):
        _tasks(tmp_path, "t.yml", LAUGHS + "tasks: [*i]\n")


def test_task_dates_are_text(tmp_path: Path) -> None:
    assert _tasks(tmp_path, "t.yml", "- {d: 2024-01-01, l: [2024-01-01 10:00:00]}\n") == [
        {"d": "2024-01-01", "l": ["2024-01-01 10:00:00"]}
    ]
    assert _tasks(tmp_path, "t.csv", "+x,param\n2024-01-01,1\n") == [
        {"+x": "2024-01-01", "param": "1"}
    ]


def test_task_file_that_is_not_a_regular_file(tmp_path: Path) -> None:
    # Issue 14.16: both were "does not exist".
    with pytest.raises(TaskError, match="is a folder, not a file"):
        load_tasks(SweepOptions(tasks=str(tmp_path), task_to="param"), {})
    with pytest.raises(TaskError, match="tasks file '/dev/null' has no tasks"):
        load_tasks(SweepOptions(tasks="/dev/null", task_to="param"), {})


def test_yaml_exponents_are_floats_and_round_trip() -> None:
    # PyYAML reads `1e-3` (no dot) as text, which a float field then refused; `1e400` likewise,
    # while `-o ratio=1e400` was infinity (issue 14.14). Written text that looks like one is
    # quoted, so what naga writes reads back the same.
    from naga._yaml import dump_yaml

    assert load_yaml("a: 1e-3\nb: 1E5\nc: -2e+2\nd: 1e400\ne: 1e\n") == {
        "a": 0.001,
        "b": 100000.0,
        "c": -200.0,
        "d": float("inf"),
        "e": "1e",
    }
    data = {"text": "1e-3", "number": 1e-3, "day": "2024-01-01", "big": float("inf")}
    assert load_yaml(dump_yaml(data)) == data
    assert "text: '1e-3'" in dump_yaml(data) and "day: '2024-01-01'" in dump_yaml(data)
