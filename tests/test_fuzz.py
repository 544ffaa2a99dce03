"""Fuzzing: whatever a user writes either works or is a ``NagaError``; nothing else escapes.

Each property feeds random input through one door of naga (``-o`` overrides, config files,
tasks files, run.lock files, sweep labels). In process, the only exception allowed out is a
``NagaError``; on the command line, that means exit status 0 or 2 with one ``<prog>: error:``
message and no traceback. A value that was refused leaves no file behind; a value that was
accepted leaves whole files that read back.

Inputs that trigger a bug already pinned by an ``xfail`` test at the end of this module are
left out of the properties (:func:`_known_bug`), so the properties keep finding new ones.
When those tests start passing (strict xfail then fails), drop their markers and the filter.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from naga import NagaError, clicfg, runlock
from naga._plain import flatten
from naga.cli import main as naga_main
from naga.launch import SweepOptions
from naga.launch._plan import config_key, place_tasks, resolve_tasks
from naga.launch._sources import TaskValue, load_tasks

#: Multiplies every property's number of examples: NAGA_FUZZ_SCALE=20 for a long hunt, with
#: new random examples each run. Without it the examples are the same every run (derandomized),
#: so that the suite in CI fails only when the code changes.
SCALE = os.environ.get("NAGA_FUZZ_SCALE")


def fuzz(examples: int) -> settings:
    """Settings of one property: ``examples`` runs (times ``NAGA_FUZZ_SCALE``), no deadline, no
    example database written into the checkout."""
    return settings(
        max_examples=max(1, int(examples * float(SCALE or 1))),
        derandomize=SCALE is None,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- known bugs, pinned by the xfail tests at the end --------------------------------------


def _known_bug(text: str) -> bool:
    """True when ``text`` holds an input that a pinned bug already turns into a crash (none now)."""
    return False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


# -- the config class every property runs against -------------------------------------------


#: The config class and function, as source: run in this module, and written out as a script
#: for the tests that need a real process (exit status, stderr).
CONFIG_SOURCE = textwrap.dedent(
    """
    import enum
    from dataclasses import dataclass, field
    from pathlib import Path
    from typing import Any, Literal, Optional

    from naga import clicfg


    class Color(enum.Enum):
        red = 1
        blue = 2


    @dataclass
    class Model:
        lr: float = 0.1
        layers: list[int] = field(default_factory=lambda: [64])
        act: Literal["relu", "gelu"] = "relu"


    class Plain:
        depth = 2
        name = "plain"


    @dataclass
    class FuzzConfig:
        param: int = 1
        ratio: float = 0.5
        name: str = "x"
        flag: bool = False
        path: Path = Path("data/in.csv")
        sizes: list[int] = field(default_factory=lambda: [1, 2])
        pair: tuple[int, str] = (1, "a")
        opts: dict[str, int] = field(default_factory=lambda: {"a": 1})
        anything: dict = field(default_factory=dict)
        maybe: Optional[int] = None
        color: Color = Color.red
        model: Model = field(default_factory=Model)
        plain: Any = Plain
        save_dir: str = "results/fuzz"


    @clicfg(config_class=FuzzConfig, prog="fuzz.py")
    def fuzz_main(cfg: FuzzConfig) -> dict:
        return {"param": cfg.param, "name": cfg.name}


    if __name__ == "__main__":
        fuzz_main()
    """
)
_namespace: dict[str, Any] = {"__name__": "naga_fuzz_config"}
sys.modules["naga_fuzz_config"] = type(sys)("naga_fuzz_config")  # dataclasses look it up
exec(compile(CONFIG_SOURCE, "<fuzz config>", "exec"), _namespace)
sys.modules["naga_fuzz_config"].__dict__.update(_namespace)
fuzz_main: Any = _namespace["fuzz_main"]


KEYS = [
    *("param", "ratio", "name", "flag", "path", "sizes", "pair", "opts", "anything", "maybe"),
    *("color", "model", "model.lr", "model.layers", "model.act", "plain", "plain.depth"),
    *("plain.name", "opts.a", "anything.x", "+new", "+new.x", "+opts.b", "+anything.x"),
    *("+model.dropout", "+model.lr", "+param", "+param.x", "++x", "+", "", " ", ".", "a..b"),
    *("model.", ".param", "model.nope", "parm", "+plain.extra", "name.x"),
]
#: What YAML, JSON and shells make special, and the spellings of numbers, dates and nulls.
FRAGMENTS = [
    *list("[]{}:,#&*!|>'\"%@`-?~=+. \t\n\\$"),
    *("${x}", "${param}", "${env:HOME}", "${oc.env:NOPE,1}", "\\${x}", "!!binary aGk=", "!!str"),
    *("!!python/object/apply:os.system ['true']", "!!set {a}", "!!omap [a: 1]", "!!int x"),
    *("&a [*a]", "*a", "&x {a: *x}", "? a", "{a: [1, {b: 2}]}", "[[[[]]]]", "{", "}"),
    *("2024-01-01", "2024-01-01 10:00:00", "!!timestamp 2001-12-14", "12:30:00", "1:20"),
    *(".inf", "-.inf", ".nan", "nan", "inf", "-Infinity", "1e400", "-1e400", "1e-3", "0x1f"),
    *("0o7", "0b101", "1_000", "1__0", "3.0", "-0", "+1", "00", "null", "~", "None", "yes"),
    *("off", "True", "'", '"', "'a'", '"b"', "''", "\x00", "\x1b[31m", "\u200b", "\ufeff"),
    *("é", "日本", "🐍", "\udce9", "\udcff", "9" * 30, "-" * 3, "..."),
]
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
_os_surrogates = st.text(st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), max_size=2)
override_values = st.one_of(
    _text,
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), _text, _os_surrogates), max_size=6).map("".join),
)
override_keys = st.one_of(st.sampled_from(KEYS), _text, override_values)


def _flow(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """``values`` written as YAML flow text, as a user types a list or a mapping after -o."""
    return values.map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**6).strip())


_ints = st.integers(min_value=-(10**30), max_value=10**30)
#: Values that fit each key, so that runs are accepted too and their files checked.
FITTING: dict[str, st.SearchStrategy[str]] = {
    "param": st.one_of(_ints.map(str), st.sampled_from(["3.0", "1_000", "0x1f", "-0", "+7"])),
    "ratio": st.one_of(st.floats().map(repr), st.sampled_from([".inf", "-Infinity", "nan", "1"])),
    "name": override_values,
    "path": override_values,
    "flag": st.sampled_from(["true", "false", "yes", "no", "on", "off", "True", "1", "0"]),
    "sizes": _flow(st.lists(_ints, max_size=4)),
    "pair": _flow(st.tuples(_ints, st.text(max_size=5)).map(list)),
    "opts": _flow(st.dictionaries(st.text(max_size=5), _ints, max_size=3)),
    "anything": _flow(st.dictionaries(st.text(max_size=5), st.one_of(_ints, _text), max_size=3)),
    "maybe": st.one_of(_ints.map(str), st.sampled_from(["null", "~", "None"])),
    "color": st.sampled_from(["red", "blue"]),
    "model.lr": st.floats().map(repr),
    "model.act": st.sampled_from(["relu", "gelu"]),
    "model.layers": _flow(st.lists(_ints, max_size=3)),
    "plain.depth": _ints.map(str),
    "+new": override_values,
    "+model.dropout": override_values,
    "+anything.x": override_values,
}
_fitting_pairs = st.sampled_from(sorted(FITTING)).flatmap(
    lambda key: st.tuples(st.just(key), FITTING[key])
)
override_pairs = st.one_of(
    _fitting_pairs, _fitting_pairs, st.tuples(override_keys, override_values)
)


def _allowed_key(key: str) -> bool:
    # save_dir is set by the test, to a fresh folder: a random one could be "/" (tests may run
    # as root).
    return key.strip().lstrip("+").strip() != "save_dir"


def _fresh(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _check_saved(save_dir: Path, tmp_path: Path) -> None:
    """A run that was accepted left whole files, and its config.json replays to itself."""
    saved = save_dir / "config.json"
    text = saved.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    data = json.loads(text)
    result = json.loads((save_dir / "result.json").read_text(encoding="utf-8"))
    assert result["param"] == data["param"]
    assert not [p for p in save_dir.iterdir() if p.name.endswith(".tmp")]
    replay = _fresh(tmp_path)
    with _quiet():
        fuzz_main(argv=["--config", str(saved), "-o", f"save_dir={replay}"])
    again = json.loads((replay / "config.json").read_text(encoding="utf-8"))
    assert again == {**data, "save_dir": str(replay)}


def _check_nothing_written(save_dir: Path) -> None:
    """A refused run left nothing in its (fresh, empty) save_dir."""
    assert not save_dir.exists() or not list(save_dir.iterdir()), list(save_dir.iterdir())


# -- overrides --------------------------------------------------------------------------------


@fuzz(2000)
@given(
    pairs=st.lists(override_pairs, min_size=1, max_size=3),
    print_config=st.booleans(),
)
@example(pairs=[("sizes", "[1, 2"), ("name", "'")], print_config=False)
@example(pairs=[("+new", "&a [*a, *a]")], print_config=True)
@example(pairs=[("name", "caf\udce9")], print_config=False)
@example(pairs=[("model", "{lr: [1], +x: 2}")], print_config=False)
def test_any_override_runs_or_is_a_naga_error(
    tmp_path: Path, pairs: list[tuple[str, str]], print_config: bool
) -> None:
    items = [f"{key}={value}" for key, value in pairs]
    assume(all(_allowed_key(key) for key, _ in pairs))
    assume(not any(_known_bug(item) for item in items))
    save_dir = _fresh(tmp_path)
    argv = ["-o", f"save_dir={save_dir}", *items] + (["--print_config"] if print_config else [])
    try:
        with _quiet():
            fuzz_main(argv=argv)
    except NagaError as error:
        event(f"refused: {type(error).__name__}")
        assert str(error).strip()
        _check_nothing_written(save_dir)
        return
    event("accepted")
    if not print_config:
        _check_saved(save_dir, tmp_path)


@fuzz(600)
@given(pairs=st.lists(override_pairs, min_size=1, max_size=2))
def test_any_override_through_the_python_api_keyword_form(
    tmp_path: Path, pairs: list[tuple[str, str]]
) -> None:
    # main(key=value) takes typed values: feed it the values parsed as YAML would.
    from naga.config import parse_value

    assume(all(_allowed_key(key) for key, _ in pairs))
    assume(not any(_known_bug(f"{k}={v}") for k, v in pairs))
    save_dir = _fresh(tmp_path)
    try:
        with _quiet():
            fuzz_main(save_dir=str(save_dir), **{k: parse_value(v) for k, v in pairs})
    except NagaError:
        _check_nothing_written(save_dir)
    except TypeError as error:  # Python's own refusal of a keyword that is not an identifier
        assert "keyword" in str(error) or "argument" in str(error)
    else:
        _check_saved(save_dir, tmp_path)


def _script(folder: Path) -> Path:
    script = folder / "fuzz.py"
    if not script.exists():
        script.write_text(CONFIG_SOURCE)
    return script


def _run_script(folder: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NAGA_DEBUG": "", "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, str(_script(folder)), *args],
        cwd=folder,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=120,
    )


def _assert_clean_exit(done: subprocess.CompletedProcess[bytes], prog: str = "fuzz.py") -> None:
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 2), (done.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    if done.returncode == 2:
        assert stderr.startswith(f"{prog}: error: "), stderr
        assert stderr.count(f"{prog}: error: ") == 1, stderr


SUBPROCESS_OVERRIDES: list[list[str | bytes]] = [
    ["-o", "param=abc"],
    ["-o", "param=1", "ratio=.inf", "name=007", "flag=yes"],
    ["-o", "sizes=[1, 2"],
    ["-o", "model={lr: 0.1, act: tanh}"],
    ["-o", "+new.deep.er=&a [*a]"],
    ["-o", "opts={a: !!binary aGk=}"],
    ["-o", "name=!!python/object/apply:os.system ['echo pwned']"],
    ["-o", "anything={a: 2024-01-01, b: 12:30:00}"],
    ["-o", "=1"],
    ["-o", "param"],
    ["-o", "++param=1"],
    ["-o", "+param.x=1"],
    [b"-o", b"name=caf\xe9"],
    [b"-o", b"caf\xe9=1"],
    [b"-o", b"+\xff\xfe=\xed\xa0\x80"],
    ["-o", "pair=[1, 2, 3]", "--print_config"],
    ["--config"],
    ["-o"],
    ["--experiment", "x"],
]


@pytest.mark.parametrize("args", SUBPROCESS_OVERRIDES, ids=repr)
def test_overrides_on_the_command_line_exit_0_or_2_without_traceback(
    tmp_path: Path, args: list[str | bytes]
) -> None:
    done = _run_script(tmp_path, "-o", f"save_dir={tmp_path / 'run'}", *args)
    _assert_clean_exit(done)
    if done.returncode == 2:
        assert not (tmp_path / "run" / "config.json").exists()
    elif b"--print_config" not in args and "--print_config" not in args:
        json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))


@fuzz(8)
@given(pairs=st.lists(override_pairs, min_size=1, max_size=2))
def test_random_overrides_in_a_real_process(tmp_path: Path, pairs: list[tuple[str, str]]) -> None:
    items = [f"{k}={v}" for k, v in pairs]
    assume(all(_allowed_key(k) for k, _ in pairs))
    assume(not any(_known_bug(i) or "\x00" in i for i in items))  # argv cannot hold NUL
    assume(all(not i.startswith("-") for i in items))  # a flag, not an override
    folder = _fresh(tmp_path)
    args = [os.fsencode(a) for a in ["-o", f"save_dir={folder / 'run'}", *items]]
    done = _run_script(folder, *args)
    _assert_clean_exit(done)
    if done.returncode == 2:
        assert not (folder / "run" / "config.json").exists()


# -- config files -----------------------------------------------------------------------------

FILE_KEYS = [
    *("param", "ratio", "name", "flag", "sizes", "opts", "model", "lr", "layers", "plain"),
    *("defaults", "base", "exp", "exp.inner", "+new", "lock_version", "config", "<<", "a", "b"),
]
_file_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        [
            *("2024-01-01", "2024-01-01T10:00:00Z", "${param}", "${exp.param}", "${env:HOME}"),
            *("${env:NAGA_FUZZ_UNSET}", "${oc.env:NAGA_FUZZ_UNSET,3}", "\\${x}", "${a.b.c}"),
            *("${", "}", "${defaults}", "${exp}", "${model.lr}", "base", "exp", "a"),
        ]
    ),
)
_file_values = st.recursive(
    _file_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(FILE_KEYS), st.text(max_size=5)), inner, max_size=3
        ),
    ),
    max_leaves=10,
)
_random_docs = st.dictionaries(
    st.sampled_from(FILE_KEYS),
    st.one_of(_file_values, st.lists(st.sampled_from(FILE_KEYS), max_size=3)),
    max_size=5,
)
_fitting_values: dict[str, st.SearchStrategy[Any]] = {
    "param": _ints,
    "ratio": st.floats(allow_nan=False),
    "name": st.one_of(st.text(max_size=8), st.sampled_from(["2024-01-01", "${param}", "\\${x}"])),
    "flag": st.booleans(),
    "sizes": st.lists(_ints, max_size=3),
    "opts": st.dictionaries(st.text(max_size=5), _ints, max_size=3),
    "anything": st.dictionaries(st.text(max_size=5), _file_values, max_size=3),
    "maybe": st.one_of(st.none(), _ints),
    "model": st.fixed_dictionaries(
        {}, optional={"lr": st.floats(allow_nan=False), "act": st.sampled_from(["relu", "gelu"])}
    ),
}
_fitting_docs = st.fixed_dictionaries({}, optional=_fitting_values)
#: A file of experiments whose entries fit the config, with defaults lists among them.
_experiment_docs = st.dictionaries(
    st.sampled_from(["base", "exp", "other"]),
    st.tuples(_fitting_docs, st.lists(st.sampled_from(["base", "exp", "other"]), max_size=2)).map(
        lambda pair: {**pair[0], "defaults": pair[1]} if pair[1] else pair[0]
    ),
    min_size=1,
    max_size=3,
).flatmap(
    lambda doc: st.one_of(
        st.just(doc),
        st.lists(st.sampled_from(sorted(doc)), max_size=2).map(
            lambda top: {"defaults": top, **doc} if top else doc
        ),
    )
)
_docs = st.one_of(_fitting_docs, _fitting_docs, _experiment_docs, _random_docs)
YAML_PIECES = [
    *("param: 1\n", "param: 1\nparam: 2\n", "a: &x [1, 2]\nb: *x\n", "blob: !!binary aGk=\n"),
    "a: &x {param: 1}\nb:\n  <<: *x\n  name: q\n",
    *("d: 2024-01-01\n", "t: 2001-12-14t21:59:43.10-05:00\n", "x: !!timestamp 2001-12-14\n"),
    *("s: !!set {a, b}\n", "o: !!omap [a: 1, b: 2]\n", "p: !!python/object:os.system x\n"),
    "deep: " + "[" * 300 + "]" * 300 + "\n",
    "deep: " + "[" * 150 + "]" * 150 + "\n",
    "deep:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 120)) + "  " * 120 + "v: 1\n",
    *("? [a, b]\n: 1\n", "? {a: 1}\n: 2\n", "null: x\n", "'': 1\n", "a: b: c\n"),
    *("a: &a [*a]\n", "--- \n", "---\na: 1\n---\nb: 2\n", "%YAML 1.1\n---\na: 1\n", "\t\n"),
    *("a: 'unterminated\n", "a: [1, 2\n", "- 1\n- 2\n", "just text\n", "&anchor x\n"),
    *("*alias\n", "!!binary aGk=\n", "a: !custom 1\n", "{a: 1, a: 2}\n", "[1, 2]: 3\n"),
    "defaults: [base]\nbase: {param: 2}\nexp: {defaults: [base], name: q}\n",
    "base: {param: 2}\nexp:\n  defaults: [base]\n  model: {lr: '${base.param}'}\n",
    *("exp:\n  defaults: [exp]\n", "exp:\n  defaults: [missing]\n", "exp:\n  defaults: 3\n"),
    *("defaults: 5\n", "exp: {param: '${exp.param}'}\n", "exp:\n  model: {lr: 1e-3}\n"),
    *("exp:\n  inner: {param: 4}\n", "\ufeffparam: 3\n", "param: 0x10\n", "param: 1_000\n"),
    *("ratio: .inf\n", "ratio: .nan\n", "ratio: 1e400\n", "lock_version: 2\nconfig: {param: 5}\n"),
    *("lock_version: 2\nconfig: 3\n", "model: {lr: [1]}\n", "plain: {depth: x}\n", "name: ~\n"),
]
_yaml_texts = st.lists(st.sampled_from(YAML_PIECES), min_size=1, max_size=4).map("".join)
_experiments = st.one_of(
    st.none(),
    st.sampled_from(["base", "exp", "other"]),
    st.sampled_from(FILE_KEYS),
    st.text(max_size=5),
)


def _toml_value(value: Any) -> str:
    """A small TOML writer (no TOML writer is a dependency here): enough for these shapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{" + ", ".join(items) + "}"
    return '""'


def _toml(doc: dict[str, Any]) -> str:
    return "".join(
        f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in doc.items() if v is not None
    )


TOML_TEXTS = [
    "a = 1\na = 2\n",
    "d = 1979-05-27T07:32:00Z\nt = 07:32:00\n[model]\nlr = 1979-05-27\n",
    "param = 1\n[model]\nlr = inf\n",
    "[exp]\nparam = 2\n[exp.model]\nlr = nan\n",
    "param = [1, 'a']\n",
    "param = \n",
    "[[sizes]]\na = 1\n",
    "name = '''\nmulti\nline'''\n",
]


@st.composite
def _config_files(draw: st.DrawFn) -> tuple[str, str]:
    """(suffix, text) of a config file of a random kind and shape."""
    kind = draw(st.sampled_from(["yaml", "yaml", "yaml-pieces", "json", "toml", "text"]))
    if kind == "yaml":
        doc = draw(_docs)
        dump = yaml.safe_dump if draw(st.booleans()) else yaml.dump  # yaml.dump writes aliases
        text = dump(doc, allow_unicode=True)
        if draw(st.booleans()):  # one value shared: an anchor and its alias
            text = yaml.dump({"a": (shared := {"param": 2}), "exp": {"x": shared}}) + text
        return draw(st.sampled_from([".yml", ".yaml", ""])), text
    if kind == "yaml-pieces":
        return ".yaml", draw(_yaml_texts)
    if kind == "json":
        doc = draw(_docs)
        if draw(st.integers(0, 3)) == 0:
            return ".json", draw(
                st.sampled_from(['{"a": 1, "a": 2}', '{"a": NaN}', "[1]", "{", ""])
            )
        return ".json", json.dumps(doc, allow_nan=True)
    if kind == "toml":
        if draw(st.booleans()):
            return ".toml", draw(st.sampled_from(TOML_TEXTS))
        return ".toml", _toml(draw(_docs))
    return draw(st.sampled_from([".yml", ".json", ".toml"])), draw(st.text(max_size=60))


@fuzz(1000)
@given(file=_config_files(), experiment=_experiments, override=st.booleans())
@example(
    file=(".yaml", "defaults: [base]\nbase: {param: 2}\nexp: {defaults: [base]}\n"),
    experiment="exp",
    override=False,
)
@example(file=(".yaml", "a: &a [*a]\n"), experiment=None, override=False)
def test_any_config_file_runs_or_is_a_naga_error(
    tmp_path: Path, file: tuple[str, str], experiment: str | None, override: bool
) -> None:
    suffix, text = file
    assume(not _known_bug(text) and not _known_bug(experiment or ""))
    folder = _fresh(tmp_path)
    config = folder / f"conf{suffix}"
    config.write_text(text, encoding="utf-8", errors="surrogatepass")
    save_dir = folder / "run"
    argv = ["--config", str(config)]
    if experiment is not None:
        argv += ["--experiment", experiment]
    argv += ["-o", f"save_dir={save_dir}"] + (["param=3"] if override else [])
    try:
        with _quiet():
            fuzz_main(argv=argv)
    except NagaError as error:
        event(f"refused: {type(error).__name__}")
        if error.path is not None:
            assert os.fspath(error.path) in (str(config), str(save_dir)), error.path
        _check_nothing_written(save_dir)
        return
    event("accepted")
    _check_saved(save_dir, tmp_path)


# -- config files judged by value: stale exactly when the resolved config would change ---------


@dataclasses.dataclass
class _Inner:
    x: int = 0
    y: int = 0


@dataclasses.dataclass
class _JudgedConfig:
    save_dir: str = "run"
    a: int = 0
    b: float = 0.5
    name: str = "n"
    m: _Inner = dataclasses.field(default_factory=_Inner)


@clicfg(config_class=_JudgedConfig)
def judged_main(cfg: _JudgedConfig) -> None:
    runlock(config=cfg, runlock_path=f"{cfg.save_dir}/run.lock")


_JUDGED_VALUES = {
    "a": st.one_of(st.integers(-3, 3), st.just("${other.epochs}")),  # a reference, typed
    "b": st.sampled_from([0.5, 1.5, 2.0, 2]),  # 2 and 2.0: the same float once typed
    "name": st.sampled_from(["n", "p", "x-${env:HOME}"]),
    "m": st.fixed_dictionaries({}, optional={"x": st.integers(0, 2), "y": st.integers(0, 2)}),
    "epochs": st.integers(0, 2),  # a key of another script: only in other experiments
}
_judged_entries = st.fixed_dictionaries(
    {}, optional={k: v for k, v in _JUDGED_VALUES.items() if k != "epochs"}
)


@st.composite
def _judged_files(draw: st.DrawFn) -> dict[str, Any]:
    """A file of experiments: ``base`` (the top-level default), ``e1`` (the one run), ``e2``
    (which inherits from e1) and ``other`` (another script's, with keys this config lacks)."""
    return {
        "defaults": ["base"],
        "base": {"name": "n", **draw(_judged_entries)},
        "e1": draw(_judged_entries),
        "e2": {"defaults": ["e1"], **draw(_judged_entries)},
        "other": {"epochs": draw(_JUDGED_VALUES["epochs"])},
    }


@st.composite
def _edits(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a few entries redrawn (or left as they were)."""
    new = json.loads(json.dumps(doc))
    for entry in draw(st.lists(st.sampled_from(["base", "e1", "e2", "other"]), max_size=3)):
        if entry == "other":
            new[entry] = {"epochs": draw(_JUDGED_VALUES["epochs"])}
        else:
            fresh = draw(_judged_entries)
            new[entry] = {**({"name": "n"} if entry == "base" else {}), **fresh}
            if entry == "e2":
                new[entry]["defaults"] = ["e1"]
    return new


def _resolved(argv: list[str]) -> dict[str, Any] | None:
    """The config clicfg resolves from ``argv`` today (None when it refuses it)."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
            judged_main(argv=[*argv, "--print_config"])
    except NagaError:
        return None
    config = yaml.safe_load(printed.getvalue())
    assert isinstance(config, dict)
    return config


def _dotted(entries: dict[str, Any]) -> dict[str, Any]:
    """An overrides file's form: one dotted key per value (``m.x: 1``)."""
    return {k: v for k, v in flatten(entries).items() if v != {}}


@fuzz(40)
@given(data=st.data(), overrides=st.lists(st.sampled_from(["a=9", "m.x=7", "name=o"]), unique=True))
def test_a_run_is_stale_exactly_when_its_config_files_now_resolve_otherwise(
    tmp_path: Path, data: st.DataObject, overrides: list[str]
) -> None:
    # The oracle is clicfg itself: the config the same command resolves from the edited file.
    # naga status must say stale exactly when it differs from the run's (edits of comments,
    # other experiments, keys -o overrode or keys of another script are not reasons).
    folder = _fresh(tmp_path)
    before = data.draw(_judged_files(), "before")
    conf = folder / "exps.yml"
    conf.write_text(yaml.safe_dump(before, sort_keys=False))
    # Sometimes a plain config file first, and an overrides file last.
    common = data.draw(st.one_of(st.none(), _judged_entries), "common")
    extra = data.draw(st.one_of(st.none(), _judged_entries), "overrides file")
    save_dir = folder / "run"
    argv = []
    if common is not None:
        (folder / "common.yml").write_text(yaml.safe_dump(common))
        argv += ["--config", str(folder / "common.yml")]
    argv += ["--config", str(conf), "--experiment", "e1", "-o", f"save_dir={save_dir}"]
    if extra is not None:
        (folder / "extra.yml").write_text(yaml.safe_dump(_dotted(extra)))
        argv += ["--overrides_file", str(folder / "extra.yml")]
    argv += [x for o in overrides for x in ("-o", o)]
    try:
        with _quiet():
            judged_main(argv=argv)
    except NagaError:
        assume(False)  # a file that does not run: nothing to judge
    recorded = yaml.safe_load((save_dir / "run.lock").read_text())["config"]
    after = data.draw(_edits(before), "after")
    conf.write_text("# edited\n" + yaml.safe_dump(after, sort_keys=False))
    if common is not None and data.draw(st.booleans(), "edit common"):
        (folder / "common.yml").write_text(yaml.safe_dump(data.draw(_judged_entries)))
    if extra is not None and data.draw(st.booleans(), "edit overrides file"):
        (folder / "extra.yml").write_text(yaml.safe_dump(_dotted(data.draw(_judged_entries))))
    now = _resolved(argv)
    assume(now is not None)  # the edited file no longer runs: either verdict is fair
    with _quiet():
        code = naga_main(["status", str(save_dir)])
    event("stale" if code else "fresh")
    assert code == (0 if now == recorded else 1), (recorded, now)


# -- tasks files ------------------------------------------------------------------------------

TASK_KEYS = [
    *("param", "ratio", "name", "flag", "sizes", "opts", "model", "model.lr", "+new"),
    *("opts.a", "+opts.b", "", "a b", "++x", "save_dir", "+save_dir", "plain.depth"),
]
_cells = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            *("1", "2.5", "true", "[1,2]", "{a: 1}", "null", "\\n", "#c", '"q"', "a,b", "a\tb"),
            *("2024-01-01", "!!binary aGk=", "&a [*a]", ".inf", "nan", "", " ", "é", "\r", "x\ry"),
        ]
    ),
)
_task_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_task_values = st.recursive(
    _task_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(TASK_KEYS), st.text(max_size=4)), inner, max_size=3
        ),
    ),
    max_leaves=8,
)


@st.composite
def _tasks_files(draw: st.DrawFn) -> tuple[str, str]:
    suffix = draw(st.sampled_from([".txt", ".csv", ".tsv", ".yaml", ".yml", ".json", ""]))
    if draw(st.integers(0, 4)) == 0:
        return suffix, draw(st.text(max_size=60))
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        header = draw(st.lists(st.sampled_from(TASK_KEYS), max_size=4))
        rows = draw(st.lists(st.lists(_cells, max_size=4), max_size=5))
        if draw(st.booleans()):  # quoted as the csv module writes
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=delimiter)
            writer.writerow(header)
            writer.writerows(rows)
            return suffix, buffer.getvalue()
        lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
        return suffix, "\n".join(lines)
    if suffix in (".yaml", ".yml"):
        items = draw(st.lists(_task_values, max_size=5))
        return suffix, (yaml.safe_dump if draw(st.booleans()) else yaml.dump)(items)
    if suffix == ".json":
        return suffix, json.dumps(draw(st.one_of(st.lists(_task_values, max_size=5), _task_values)))
    lines = draw(st.lists(st.one_of(_cells, st.sampled_from(FRAGMENTS)), max_size=6))
    return suffix, "\n".join(lines)


_FITTING_CELLS: dict[str, st.SearchStrategy[Any]] = {
    "param": _ints,
    "ratio": st.floats(allow_nan=False),
    "name": st.text(st.characters(blacklist_characters="\r", codec="utf-8"), max_size=12),
    "flag": st.booleans(),
    "model.lr": st.floats(allow_nan=False),
    "+new": _task_scalars,
}


@st.composite
def _fitting_tasks(draw: st.DrawFn) -> tuple[tuple[str, str], str | None]:
    """Tasks files whose values fit the config (so that planning runs to the end)."""
    suffix = draw(st.sampled_from([".txt", ".csv", ".tsv", ".yaml", ".json"]))
    if suffix == ".txt":
        key = draw(st.sampled_from(["param", "ratio", "name", "flag", "model.lr"]))
        values = draw(st.lists(_FITTING_CELLS[key], min_size=1, max_size=6))
        lines = [str(v).replace("\\n", "n") for v in values]
        return (suffix, "\n".join(line for line in lines if line.strip()) or "1"), key
    columns = draw(st.lists(st.sampled_from(sorted(_FITTING_CELLS)), min_size=1, unique=True))
    rows = draw(
        st.lists(st.fixed_dictionaries({c: _FITTING_CELLS[c] for c in columns}), max_size=6)
    )
    if suffix in (".yaml", ".json"):
        dump = json.dumps if suffix == ".json" else yaml.safe_dump
        return (suffix, dump(rows)), None
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="," if suffix == ".csv" else "\t")
    writer.writerow(columns)
    writer.writerows([[row[c] for c in columns] for row in rows])
    return (suffix, buffer.getvalue()), None


def _plan(path: str, task_to: str | None) -> list[Any]:
    spec = fuzz_main.spec
    base = spec.defaults()
    values = load_tasks(SweepOptions(tasks=path, task_to=task_to), base)
    return place_tasks(resolve_tasks(spec, base, values, task_to), base, task_to, {})


@fuzz(1500)
@given(
    case=st.one_of(
        _fitting_tasks(),
        st.tuples(_tasks_files(), st.one_of(st.none(), st.sampled_from(TASK_KEYS))),
    )
)
@example(case=((".txt", "1\\n2"), "param"))
@example(case=((".csv", "param,param\n1,2\n"), None))
@example(case=((".yaml", "- &a [*a]\n"), "sizes"))
def test_any_tasks_file_is_planned_or_is_a_naga_error(
    tmp_path: Path, case: tuple[tuple[str, str], str | None]
) -> None:
    (suffix, text), task_to = case
    assume(not _known_bug(text))
    path = _fresh(tmp_path) / f"tasks{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass", newline="")
    try:
        planned = _plan(str(path), task_to)
    except NagaError as error:
        event(f"refused: {type(error).__name__}")
        assert error.path in (None, str(path)), error.path
        return
    event("planned")
    assert planned
    save_dirs = [task.config["save_dir"] for task in planned]
    assert len(set(save_dirs)) == len(save_dirs)
    assert len({task.key for task in planned}) == len(planned)
    for task in planned:
        assert _safe_name(task.label), task.label
        assert task.config["save_dir"] == os.path.join("results/fuzz", task.label)


# -- sweep labels -----------------------------------------------------------------------------


def _safe_name(label: str) -> bool:
    return (
        bool(label)
        and "/" not in label
        and "\x00" not in label
        and label not in (".", "..")
        and len(label.encode("utf-8", "surrogatepass")) <= 255
    )


_label_text = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from([*"ab/_.-= é\x00\\", "\udce9", "..", "/..", "=x"]), max_size=10).map(
        "".join
    ),
    st.text(st.sampled_from("ab"), min_size=70, max_size=300),
    st.sampled_from([".", "..", "/", "", "-", "_", "a/b", "a_b", "a b", "task", "name=a_b"]),
)


class _LabelConfig:
    name = "x"
    save_dir = "results/labels"


def _plan_values(values: list[Any], previous: dict[str, Any]) -> list[Any]:
    from naga.config import ConfigSpec

    spec = ConfigSpec.from_class(_LabelConfig)
    base = spec.defaults()
    tasks = [TaskValue(v, f"tasks.yaml item {i + 1}", False) for i, v in enumerate(values)]
    return place_tasks(resolve_tasks(spec, base, tasks, "name"), base, "name", previous)


@fuzz(2000)
@given(first=st.lists(_label_text, max_size=6), added=st.lists(_label_text, max_size=3))
@example(first=["a/b", "a_b", "a b"], added=["a:b"])
@example(first=["." * 100, ".." * 50], added=["/" * 81])
def test_labels_are_safe_stable_and_distinct(first: list[str], added: list[str]) -> None:
    planned = _plan_values(first, {})
    names = [task.config["name"] for task in planned]
    assert len(set(names)) == len(names)  # the same task twice is one task
    for task in planned:
        assert _safe_name(task.label), task.label
        assert task.config["save_dir"] == f"results/labels/{task.label}"
    save_dirs = [task.config["save_dir"] for task in planned]
    assert len(set(save_dirs)) == len(save_dirs), [(t.config["name"], t.label) for t in planned]
    # Stable: the same tasks again get the same labels, with or without the earlier tasks.yaml.
    assert [t.label for t in _plan_values(first, {})] == [t.label for t in planned]
    previous = {task.key: {"label": task.label} for task in planned}
    again = _plan_values(first + added, previous)
    labels = {task.config["name"]: task.label for task in planned}
    for task in again:
        if task.config["name"] in labels:
            assert task.label == labels[task.config["name"]], (task.config["name"], task.label)
        assert _safe_name(task.label)
    save_dirs = [task.config["save_dir"] for task in again]
    assert len(set(save_dirs)) == len(save_dirs), [(t.config["name"], t.label) for t in again]


# -- run.lock of any shape through every subcommand that reads one ---------------------------


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def real_locks(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """A git repository with two real runs (upstream and downstream) and their run.lock data,
    trimmed (few packages) so that random variations stay small."""
    repo = tmp_path_factory.mktemp("locks") / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@example.com")
    _git(repo, "config", "user.name", "Test")
    (repo / "data").mkdir()
    (repo / "data" / "in.csv").write_text("1\n")
    (repo / "README.md").write_text("fuzz\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "initial")
    _git(repo.parent, "init", "-q", "--bare", "remote.git")
    with _inside(repo):
        up = runlock(
            config={"param": 1, "save_dir": "results/up"}, repos=["."], data=["data/in.csv"]
        )
        (repo / "results" / "up" / "out.txt").write_text("x")
        down = runlock(
            config={"param": 2, "save_dir": "results/down"},
            repos=["."],
            data={"in": "results/up/out.txt"},
            prevs=["results/up"],
        )

    def trim(lock: dict[str, Any]) -> dict[str, Any]:
        env = lock.get("environment")
        if isinstance(env, dict) and isinstance(env.get("packages"), dict):
            env["packages"] = dict(list(env["packages"].items())[:3])
        for prev in (lock.get("prevs") or {}).values():
            trim(prev)
        return lock

    return repo, trim(json.loads(json.dumps(up))), trim(json.loads(json.dumps(down)))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


_lock_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(
        [
            *("xxh3-128:zz", "sha256:00", "", ".", "..", "/", "/etc", "../../..", "HEAD", "-rf"),
            *("refs/naga/snapshots/zz", "0" * 40, "f" * 64, "--output=x", "2024-01-01", "a:b"),
            *("same_as_run", "\x00", "running", "done", "failed", "~", "${x}"),
        ]
    ),
)
_lock_values = st.recursive(
    _lock_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
LOCK_VERSIONS = [0, 1, 2, 3, -1, True, False, 2.0, 2.5, "2", None, 10**30, [2], {"v": 2}]


@st.composite
def _mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with a few subtrees replaced by random values or deleted."""
    lock = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(lock)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = lock
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_lock_values)
    if draw(st.integers(0, 4)) == 0:
        lock["lock_version"] = draw(st.one_of(st.sampled_from(LOCK_VERSIONS), _lock_values))
    return lock


LOCK_TEXTS = [
    *("", "---\n", "lock_version: 2\n", "lock_version: 2\nlock_version: 2\n", "- 1\n", "x\n"),
    *("lock_version: 2\nprevs: &a {x: *a}\n", "lock_version: 2\nx: !!binary aGk=\n"),
    *("lock_version: !!float 2\n", "lock_version: 2\n\x00", "\ufefflock_version: 2\n"),
    *("lock_version: 2\nprevs: {a: {lock_version: 2, prevs: {b: {lock_version: 9}}}}\n",),
    "lock_version: 2\ncreated: 2024-01-01 10:00:00\nconfig: {a: &x [1], b: *x}\n",
    "lock_version: 2\nrepos: {r: {commit: '--upload-pack=touch /tmp/x', root: /nonexistent}}\n",
    "lock_version: 2\nprevs:\n" + "".join(f"  p{i}: {{lock_version: 2}}\n" for i in range(50)),
    "lock_version: 2\nconfig:\n" + "  " * 0 + "  a: " + "[" * 199 + "]" * 199 + "\n",
]
_lock_texts = st.one_of(st.text(max_size=80), st.sampled_from(LOCK_TEXTS))
_json_texts = st.one_of(
    st.none(),
    st.text(max_size=30),
    _lock_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.sampled_from(
        [
            '{"status": "running", "pid": -1}',
            '{"status": "done", "duration_s": "x"}',
            '{"acc": NaN, "loss": 1e999}',
            '{"status": "running", "pid": 1, "host": 3}',
        ]
    ),
)


def _write_run(folder: Path, text: str, record: str | None, result: str | None, twin: Any) -> None:
    folder.mkdir(parents=True)
    (folder / "run.lock").write_text(text, encoding="utf-8", errors="surrogatepass")
    if record is not None:
        (folder / ".naga").mkdir(exist_ok=True)
        (folder / ".naga" / "record.json").write_text(record, errors="surrogatepass")
    if result is not None:
        (folder / "result.json").write_text(result, errors="surrogatepass")
        (folder / "config.json").write_text(result, errors="surrogatepass")
    if twin is not None:  # a parsed twin that matches the text: read instead of the YAML
        import xxhash

        source = xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))
        (folder / ".naga").mkdir(exist_ok=True)
        (folder / ".naga" / "lock.json").write_text(json.dumps({"source": source, "lock": twin}))


LOCK_COMMANDS = [
    ["status", "A"],
    ["status", "--all", "--json", "A", "B"],
    ["diff", "A", "B"],
    ["diff", "--json", "B", "A"],
    ["ls", "R"],
    ["ls", "R", "--status", "--json"],
    ["ls", "R", "--table"],
    ["ls", "R", "--table", "--json", "--sort", "-param"],
    ["ls", "R", "--csv", "--filter", "param >= 1", "--columns", "run,status,param"],
    ["ls", "R", "--filter", "status == done", "--filter", "x.y != 1", "--sort", "created,-run"],
    ["ls", "R", "--md"],
    ["dag", "A", "B", "--format", "text"],
    ["dag", "R", "--json"],
    ["dag", "R", "--format", "mermaid"],
    ["dag", "R", "--format", "dot"],
    ["dag", "A", "-o", "OUT"],
    ["tag", "fuzz", "A", "--force", "--repo", "REPO"],
    ["gc", "R", "--dry_run", "--json", "--repo", "REPO"],
    ["push", "REMOTE", "--repo", "REPO"],
    ["rerun", "A", "--dry_run"],
    ["rerun", "B", "--dry_run", "--json", "--upstream"],
]


def _run_commands(repo: Path, root: Path, commands: list[list[str]]) -> None:
    names = {"A": str(root / "a"), "B": str(root / "b"), "R": str(root), "REPO": str(repo)}
    names["REMOTE"] = str(repo.parent / "remote.git")
    names["OUT"] = str(repo.parent / "lineage.mmd")
    for command in commands:
        argv = [names.get(word, word) for word in command]
        with _quiet(), _inside(root):  # push and pull read the run.lock files under "."
            status = naga_main(argv)
        assert status in (0, 1, 2), (argv, status)


def _pinned_lock_bug(lock: Any) -> bool:
    """No pinned bug of receipts is left (NUL paths, sys_path shapes and `created` shapes were
    fixed): every receipt goes through every command."""
    return False


@fuzz(100)
@given(data=st.data())
def test_any_lock_through_every_subcommand_gives_a_verdict_or_a_message(
    real_locks: tuple[Path, dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    repo, up, down = real_locks
    a = data.draw(st.one_of(_mutated(up), _mutated(down)), label="a")
    b = data.draw(st.one_of(_mutated(down), _mutated(up)), label="b")
    text_a = data.draw(st.one_of(st.none(), _lock_texts), label="raw a")
    text_a = text_a if text_a is not None else yaml.safe_dump(a, allow_unicode=True)
    text_b = yaml.safe_dump(b, allow_unicode=True)
    assume(not _known_bug(text_a) and not _known_bug(text_b))
    assume(not _pinned_lock_bug(text_a) and not _pinned_lock_bug(text_b))
    root = repo / "fuzz"
    shutil.rmtree(root, ignore_errors=True)
    _write_run(
        root / "a", text_a, data.draw(_json_texts, label="record a"), data.draw(_json_texts), None
    )
    twin = data.draw(st.one_of(st.none(), _mutated(down)), label="twin b")
    assume(not _pinned_lock_bug(twin))
    _write_run(root / "b", text_b, data.draw(_json_texts, label="record b"), None, twin)
    _run_commands(repo, root, LOCK_COMMANDS)


@pytest.mark.parametrize("text", LOCK_TEXTS, ids=range(len(LOCK_TEXTS)))
def test_odd_lock_texts_exit_0_1_or_2_without_traceback_in_a_real_process(
    tmp_path: Path, text: str
) -> None:
    run = tmp_path / "run"
    _write_run(run, text, None, None, None)
    naga = [sys.executable, "-m", "naga"]
    for args in (["status", str(run)], ["ls", str(tmp_path), "--table"]):
        done = subprocess.run(
            [*naga, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode in (0, 1, 2), (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 2:
            assert "naga: error: " in done.stderr, done.stderr


# -- tasks.yaml of any shape through `naga tasks` and a sweep's --dry_run ---------------------

SWEEP_SCRIPT = textwrap.dedent(
    """
    from naga import clicfg

    class Config:
        param = 0
        name = "x"
        save_dir = "results/sweep"

    @clicfg(config_class=Config)
    def main(cfg):
        return {"param": cfg.param}

    if __name__ == "__main__":
        main()
    """
)


def _has_option(flag: str) -> bool:
    from naga.config._argv import build_parser

    return flag in build_parser("x").format_help()


def _has_command(name: str) -> bool:
    with _quiet():
        return naga_main([name, "--help"]) == 0


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A folder with a script whose sweep of three tasks ran, and its tasks.yaml data."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "sweep.py").write_text(SWEEP_SCRIPT)
    (folder / "tasks.txt").write_text("1\n2\n3\n")
    done = subprocess.run(
        [sys.executable, "sweep.py", "--tasks", "tasks.txt", "--task_to", "param"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    state = yaml.safe_load((folder / "results" / "sweep" / "tasks.yaml").read_text())
    return folder, state


_SLURM_JOBS = st.sampled_from(["812_0", "999999", "-rf", "1,2", "../x", "", "0", "a b"])


@st.composite
def _tasks_states(draw: st.DrawFn, base: dict[str, Any]) -> str:
    """The text of a tasks.yaml: a real one with random changes, or any text."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(st.text(max_size=60), st.sampled_from(["tasks: 3\n", "- 1\n", ""])))
    state = draw(_mutated(base))
    tasks = state.get("tasks")
    if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict):
        if draw(st.integers(0, 14)) == 0:  # a Slurm job no sweep watches: squeue is asked
            tasks[0]["job"] = draw(_SLURM_JOBS)
            tasks[0]["status"] = draw(st.sampled_from(["pending", "running", "interrupted"]))
        if draw(st.booleans()) and isinstance(tasks[-1], dict):
            tasks[-1]["start"] = draw(st.one_of(_lock_scalars, st.just("2024-01-01T00:00:00Z")))
    return yaml.safe_dump(state, allow_unicode=True)


@fuzz(40)
@given(data=st.data())
def test_any_tasks_yaml_through_naga_tasks_and_a_dry_run(
    real_sweep: tuple[Path, dict[str, Any]], data: st.DataObject
) -> None:
    folder, base = real_sweep
    text = data.draw(_tasks_states(base), label="tasks.yaml")
    assume(not _known_bug(text))
    sweep = folder / "results" / "sweep"
    (sweep / "tasks.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    commands = [["ls", str(folder / "results")], ["ls", str(folder / "results"), "--table"]]
    if _has_command("tasks"):
        commands += [["tasks", str(sweep)], ["tasks", str(sweep / "tasks.yaml"), "--json"]]
    for argv in commands:
        with _quiet():
            status = naga_main(argv)
        assert status in (0, 1, 2), (argv, status)
        # naga tasks may save what it collected: the file stays whole, or as it was.
        now = (sweep / "tasks.yaml").read_text(encoding="utf-8", errors="surrogatepass")
        if now != text:
            assert isinstance(yaml.safe_load(now)["tasks"], list)
    if _has_option("--dry_run"):  # a rerun of the sweep plans against what tasks.yaml says
        from naga.launch._state import load_state

        load_state(sweep / "tasks.yaml")
        before = (sweep / "tasks.yaml").read_bytes()
        argv = ["--tasks", str(folder / "tasks.txt"), "--task_to", "param", "--dry_run"]
        try:
            with _quiet(), _inside(folder):
                fuzz_main(argv=[*argv, "-o", f"save_dir={sweep}"])
        except NagaError:
            pass
        assert (sweep / "tasks.yaml").read_bytes() == before  # a dry run writes nothing


_grid_values = st.lists(
    st.one_of(st.sampled_from([*FRAGMENTS, ",", "[1,2]", "'a,b'", "\\,"]), _text), max_size=5
).map("".join)


@fuzz(300)
@given(
    grids=st.lists(
        st.tuples(st.sampled_from([*KEYS[:12], "+new", "nope", ""]), _grid_values),
        min_size=1,
        max_size=3,
    )
)
def test_any_sweep_grid_is_planned_or_is_a_naga_error(
    tmp_path: Path, grids: list[tuple[str, str]]
) -> None:
    if not _has_option("--sweep"):
        pytest.skip("this naga has no --sweep grids")
    items = [f"{key}={values}" for key, values in grids]
    assume(not any(_known_bug(item) for item in items))
    save_dir = _fresh(tmp_path)
    try:
        with _quiet():
            fuzz_main(argv=["--sweep", *items, "--dry_run", "-o", f"save_dir={save_dir}"])
    except NagaError as error:
        event(f"refused: {type(error).__name__}")
    else:
        event("planned")
    assert not list(save_dir.iterdir())  # a dry run writes nothing


# -- known bugs (strict xfail: when one passes, drop its marker and its filter above) --------


@pytest.mark.parametrize("text", ["._", "a: ._", "[0x_]", "- 0b_", "a: " + "1" * 5000])
def test_yaml_numbers_that_cannot_convert_are_a_yaml_error(text: str) -> None:
    from naga._yaml import YAMLError, load_yaml

    with pytest.raises(YAMLError):
        load_yaml(text)


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_a_config_file_with_a_huge_integer_is_a_config_error(tmp_path: Path, suffix: str) -> None:
    digits = "1" * 5000
    text = {".json": f'{{"param": {digits}}}', ".toml": f"param = {digits}\n"}.get(
        suffix, f"param: {digits}\n"
    )
    (tmp_path / f"c{suffix}").write_text(text)
    with pytest.raises(NagaError):
        fuzz_main(argv=["--config", str(tmp_path / f"c{suffix}"), "-o", f"save_dir={tmp_path}/r"])


@pytest.mark.parametrize("item", ["sizes=[0x_]", "sizes=[._]", "+new={a: ._}"])
def test_an_override_with_an_unconvertible_yaml_number_is_handled(
    tmp_path: Path, item: str
) -> None:
    try:
        with _quiet():
            fuzz_main(argv=["-o", f"save_dir={tmp_path}/r", item])
    except NagaError:
        pass


@pytest.mark.parametrize("command", ["status", "ls"])
def test_a_lock_with_an_unconvertible_number_is_a_message(tmp_path: Path, command: str) -> None:
    _write_run(tmp_path / "run", "lock_version: 2\nrepos: {a: {commit: ._}}\n", None, None, None)
    with _quiet():
        status = naga_main([command, str(tmp_path / "run" if command == "status" else tmp_path)])
    assert status == 2


def test_a_previous_tasks_yaml_with_an_unconvertible_number_is_ignored(tmp_path: Path) -> None:
    from naga.launch._state import load_state

    (tmp_path / "tasks.yaml").write_text("tasks:\n- key: 0x_\n")
    assert load_state(tmp_path / "tasks.yaml") == {}


@pytest.mark.parametrize("text", ["param\n1\r2\n", "param\r1\r2\r", "name\tparam\nx\ry\t1\n"])
def test_a_table_with_a_bare_carriage_return_is_read_or_a_task_error(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / ("tasks.tsv" if "\t" in text else "tasks.csv")
    path.write_bytes(text.encode())
    try:
        _plan(str(path), None)
    except NagaError:
        pass


@pytest.mark.parametrize("text", ["1: one\n", "true: {a: 1}\n", "1.5: z\n", "null: x\n"])
def test_a_config_file_with_a_non_string_top_level_key_is_a_config_error(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "c.yml").write_text(text)
    with pytest.raises(NagaError):
        fuzz_main(argv=["--config", str(tmp_path / "c.yml"), "-o", f"save_dir={tmp_path}/r"])


def test_an_experiment_listed_as_available_can_be_selected(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("exp: {param: 2}\n1: {param: 3}\n")
    fuzz_main(
        argv=[
            "--config",
            str(tmp_path / "c.yml"),
            "--experiment",
            "1",
            "-o",
            f"save_dir={tmp_path}/r",
        ]
    )
    assert json.loads((tmp_path / "r" / "config.json").read_text())["param"] == 3


@pytest.mark.parametrize("item", ["name=\ud800", "\ud800=1", "+x=a\udfff"])
def test_a_lone_surrogate_in_argv_is_a_config_error(tmp_path: Path, item: str) -> None:
    with pytest.raises(NagaError):
        fuzz_main(argv=["-o", f"save_dir={tmp_path}/r", item])


def test_a_task_named_like_another_tasks_suffixed_label_gets_its_own_folder() -> None:
    first = _plan_values(["a/b"], {})
    assert first[0].label == "name=a_b"
    digest = config_key(first[0].config | {"save_dir": "results/labels"})[:8]
    planned = _plan_values(["a/b", "a_b", f"a_b-{digest}"], {})
    save_dirs = [task.config["save_dir"] for task in planned]
    assert len(set(save_dirs)) == len(save_dirs), [(t.config["name"], t.label) for t in planned]


@pytest.mark.parametrize("item", ["+new=1", "+model.dropout=0.1", "+anything.x={a: [1]}"])
def test_config_json_with_added_keys_replays(tmp_path: Path, item: str) -> None:
    with _quiet():
        fuzz_main(argv=["-o", f"save_dir={tmp_path}/a", item])
    first = json.loads((tmp_path / "a" / "config.json").read_text())
    with _quiet():
        fuzz_main(argv=["--config", f"{tmp_path}/a/config.json", "-o", f"save_dir={tmp_path}/b"])
    again = json.loads((tmp_path / "b" / "config.json").read_text())
    assert again == {**first, "save_dir": f"{tmp_path}/b"}


@pytest.mark.parametrize("item", ["name=${param}", "name=${nope}", "+new=${env:HOME}"])
def test_config_json_holding_a_reference_replays(tmp_path: Path, item: str) -> None:
    with _quiet():
        fuzz_main(argv=["-o", f"save_dir={tmp_path}/a", item])
    first = json.loads((tmp_path / "a" / "config.json").read_text())
    with _quiet():
        fuzz_main(argv=["--config", f"{tmp_path}/a/config.json", "-o", f"save_dir={tmp_path}/b"])
    again = json.loads((tmp_path / "b" / "config.json").read_text())
    assert again == {**first, "save_dir": f"{tmp_path}/b"}


@pytest.mark.parametrize("item", ["+opts.b=abc", "+opts.b=", "+opts.b=[1]"])
def test_a_key_added_to_a_typed_dict_is_typed(tmp_path: Path, item: str) -> None:
    with pytest.raises(NagaError), _quiet():
        fuzz_main(argv=["-o", f"save_dir={tmp_path}/a", item])


@pytest.mark.parametrize("text", ["[\udc80", "{a: \udce9}", "'caf\udce9'"])
def test_parse_value_of_text_with_a_lone_surrogate(text: str) -> None:
    from naga.config import parse_value

    try:
        parse_value(text)
    except NagaError:
        pass


def test_a_sweep_of_a_config_with_an_enum_defined_in_the_script_runs(tmp_path: Path) -> None:
    (tmp_path / "tasks.txt").write_text("1\n2\n")
    done = _run_script(tmp_path, "--tasks", "tasks.txt", "--task_to", "param")
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_naga_tasks_never_runs_what_a_sweep_folder_holds(tmp_path: Path) -> None:
    import pickle

    if not _has_command("tasks"):
        pytest.skip("this naga has no `naga tasks`")
    from naga.launch._jobs import result_file

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "tasks.yaml").write_text(
        "tasks:\n- {label: a, key: k, status: pending, job: '999999'}\n"
    )
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(("success", _Touch(str(marker))))
    result = result_file(sweep, "999999")
    result.parent.mkdir(parents=True)
    result.write_bytes(payload)
    with _quiet():
        naga_main(["tasks", str(sweep)])
    assert not marker.exists()


class _Touch:
    """Unpickled, it creates a file: stands for any code a pickle can run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


@pytest.mark.parametrize("status", ["[]", "{a: 1}"])
def test_a_tasks_yaml_status_of_any_shape_is_shown(tmp_path: Path, status: str) -> None:
    if not _has_command("tasks"):
        pytest.skip("this naga has no `naga tasks`")
    (tmp_path / "tasks.yaml").write_text(f"tasks:\n- {{label: a, key: k, status: {status}}}\n")
    with _quiet():
        assert naga_main(["tasks", str(tmp_path)]) in (0, 1, 2)


@pytest.mark.parametrize(
    "overrides", [{"+caf\udce9": 1}, {"anything": {"\udce9": 1}}], ids=["added", "nested"]
)
def test_a_key_with_a_lone_surrogate_is_a_config_error(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    with pytest.raises(NagaError):
        fuzz_main(save_dir=str(tmp_path / "r"), **overrides)
    assert not (tmp_path / "r" / "config.json").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"created": {"a": 1}},
        {"created": [1]},
        {"environment": {"sys_path": [""]}},
        {"cwd": ""},
        {"prevs": {"../x": {"lock_version": 2, "created": [1]}}},
    ],
    ids=["created-dict", "created-list", "sys_path-empty", "cwd-empty", "upstream-created"],
)
def test_rerun_dry_run_of_any_receipt_is_a_plan_or_a_message(
    real_locks: tuple[Path, dict[str, Any], dict[str, Any]], change: dict[str, Any]
) -> None:
    repo, up, _ = real_locks
    lock = json.loads(json.dumps(up))
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(lock.get(key), dict):
            lock[key].update(value)
        else:
            lock[key] = value
    root = repo / "rerun-shapes"
    shutil.rmtree(root, ignore_errors=True)
    _write_run(root / "a", yaml.safe_dump(lock), None, None, None)
    with _quiet(), _inside(root):
        assert naga_main(["rerun", str(root / "a"), "--dry_run", "--upstream"]) in (0, 1, 2)


@pytest.mark.parametrize("sys_path", ["true", "5", "1.5"])
def test_status_of_a_receipt_whose_sys_path_is_a_number(tmp_path: Path, sys_path: str) -> None:
    _write_run(
        tmp_path / "run", f"lock_version: 2\nenvironment: {{sys_path: {sys_path}}}\n", *[None] * 3
    )
    with _quiet():
        assert naga_main(["status", str(tmp_path / "run")]) in (0, 1, 2)


@pytest.mark.parametrize(
    ("where", "command"),
    [
        ("used", "status"),
        ("config_sources", "status"),
        ("prevs", "dag"),
        ("data", "rerun"),
    ],
)
def test_a_receipt_with_a_nul_in_a_path_is_a_message(
    real_locks: tuple[Path, dict[str, Any], dict[str, Any]], where: str, command: str
) -> None:
    repo, _, down = real_locks
    lock = json.loads(json.dumps(down))
    if where == "used":
        lock["repos"]["."]["used"] = {"a\x00": None}
    elif where == "config_sources":
        lock["config_sources"] = {"files": {"a\x00": {"hash": "x", "abs": "/a\x00"}}}
    elif where == "prevs":
        lock["prevs"] = {"a\x00": lock["prevs"]["../up"]}
    else:
        lock["data"]["in"]["path"] = "a\x00"
    root = repo / "nul"
    shutil.rmtree(root, ignore_errors=True)
    _write_run(root / "a", yaml.safe_dump(lock), None, None, None)
    argv = [command, str(root / "a")] + (["--dry_run"] if command == "rerun" else [])
    with _quiet(), _inside(root):
        assert naga_main(argv) in (0, 1, 2)
