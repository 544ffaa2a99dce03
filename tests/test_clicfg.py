"""clicfg: config classes, typed overrides, files, experiments, script vs function calls."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Literal, Optional

import attrs
import pydantic
import pytest

from naga import ConfigError, clicfg
from naga.config import ConfigSpec, parse_value, provenance_of, to_plain
from naga.config._files import select_experiment


class Config:
    param = 1  # how many copies
    input_path = "data/preprocess/input.csv"
    save_dir = None


class Model:
    lr = 0.1
    layers = [64, 64]  # noqa: RUF012 - a class-attribute config on purpose


class Nested:
    model = Model
    name: str = "run"
    tags: dict[str, int] = {}  # noqa: RUF012


@dataclasses.dataclass
class Optim:
    lr: float = 1e-3
    kind: Literal["adam", "sgd"] = "adam"


@dataclasses.dataclass
class DataConfig:
    optim: Optim = dataclasses.field(default_factory=Optim)
    epochs: int = 3
    out: Optional[Path] = None  # noqa: UP045 - the typing spelling is what users write


class PydConfig(pydantic.BaseModel):
    steps: int = 10
    ratio: float = 0.5


@attrs.define
class AttrsConfig:
    seed: int = 0
    names: list[str] = attrs.field(factory=list)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", 10),
        ("-3", -3),
        ("1e-3", 1e-3),
        ("1.5", 1.5),
        ("true", True),
        ("False", False),
        ("null", None),
        ("None", None),
        ("[64,64]", [64, 64]),
        ("{a: 1}", {"a": 1}),
        ("abc", "abc"),
        ("", ""),
        ("1.0.0", "1.0.0"),
    ],
)
def test_parse_value(text: str, expected: object) -> None:
    assert parse_value(text) == expected
    assert type(parse_value(text)) is type(expected)


@pytest.mark.parametrize(
    ("argv", "key", "expected"),
    [
        (["-o", "param=10"], "param", 10),
        (["-o", "param=10", "input_path=x.csv"], "input_path", "x.csv"),
        (["-o", "param=10", "-o", "input_path=007"], "input_path", "007"),
        (["-o", "save_dir=out"], "save_dir", "out"),
        (["-o", "+extra=[1,2]"], "extra", [1, 2]),
    ],
)
def test_overrides_are_typed(argv: list[str], key: str, expected: object, tmp_path: Path) -> None:
    seen = {}

    @clicfg(config_class=Config)
    def main(cfg: Config) -> None:
        seen["cfg"] = cfg

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        main(argv=argv)
    assert getattr(seen["cfg"], key) == expected
    assert isinstance(seen["cfg"], Config)


def test_class_defaults_never_change() -> None:
    @clicfg(config_class=Nested)
    def main(cfg: Nested) -> Nested:
        cfg.model.layers.append(1)
        return cfg

    cfg = main(argv=["-o", "model.lr=0.5", "tags={a: 1}"])
    assert cfg.model.lr == 0.5 and cfg.tags == {"a": 1}
    assert Model.lr == 0.1 and Model.layers == [64, 64] and Nested.tags == {}
    assert isinstance(cfg, Nested) and isinstance(cfg.model, Model)


@pytest.mark.parametrize(
    ("config_class", "argv", "check"),
    [
        (
            DataConfig,
            ["-o", "optim.lr=0.1", "out=a/b"],
            lambda c: c.optim.lr == 0.1 and c.out == Path("a/b"),
        ),
        (
            DataConfig,
            ["-o", "optim.kind=sgd", "epochs=4"],
            lambda c: c.optim.kind == "sgd" and c.epochs == 4,
        ),
        (PydConfig, ["-o", "steps=3", "ratio=1"], lambda c: c.steps == 3 and c.ratio == 1.0),
        (
            AttrsConfig,
            ["-o", "names=[a,b]", "seed=2"],
            lambda c: c.names == ["a", "b"] and c.seed == 2,
        ),
        (
            {"a": 1, "sub": {"b": "x"}},
            ["-o", "sub.b=y"],
            lambda c: c == {"a": 1, "sub": {"b": "y"}},
        ),
    ],
)
def test_config_kinds(config_class: object, argv: list[str], check: object) -> None:
    main = clicfg(lambda cfg: cfg, config_class=config_class)
    cfg = main(argv=argv)
    assert check(cfg)  # type: ignore[operator]
    if isinstance(config_class, type):
        assert isinstance(cfg, config_class)


@pytest.mark.parametrize(
    ("config_class", "argv", "message"),
    [
        (Config, ["-o", "param=abc"], "param expects int, got 'abc'"),
        (Config, ["-o", "parm=3"], "Did you mean 'param'?"),
        (Config, ["-o", "param"], "an override is KEY=VALUE"),
        (Config, ["param=3"], "Overrides go after -o"),
        (Config, ["--n_jobs", "x"], "invalid int value"),
        (DataConfig, ["-o", "optim.kind=rmsprop"], "optim.kind expects one of adam, sgd, got"),
        (DataConfig, ["-o", "optim.kind=sdg"], "got 'sdg'. Did you mean 'sgd'?"),
        (DataConfig, ["-o", "epochs=1.5"], "epochs expects int"),
        (Nested, ["-o", "model.layers=64"], "model.layers expects list"),
        (Config, ["--experiment", "x"], "needs the file that defines it"),
    ],
)
def test_bad_input_is_a_config_error(config_class: object, argv: list[str], message: str) -> None:
    main = clicfg(lambda cfg: cfg, config_class=config_class)
    with pytest.raises(ConfigError) as info:
        main(argv=argv)
    assert message in str(info.value)


class Mode(enum.Enum):
    fast = 1
    slow = 2


@dataclasses.dataclass
class WithMode:
    mode: Optional[Mode] = None  # noqa: UP045


def test_a_choice_error_carries_its_choices() -> None:
    for config_class, argv, choices in (
        (DataConfig, ["-o", "optim.kind=rmsprop"], ["adam", "sgd"]),
        (WithMode, ["-o", "mode=fats"], ["fast", "slow"]),
    ):
        with pytest.raises(ConfigError) as info:
            clicfg(lambda cfg: cfg, config_class=config_class)(argv=argv)
        assert info.value.choices == choices and info.value.key in ("optim.kind", "mode")
    assert "Did you mean 'fast'?" in str(info.value)


def test_function_calls_parse_nothing() -> None:
    @clicfg(config_class=Config)
    def main(cfg: Config) -> int:
        return cfg.param

    assert main() == 1  # pytest's own argv is never parsed
    assert main(param=3) == 3
    mine = Config()
    mine.param = 7
    assert main(mine) == 7
    with pytest.raises(ConfigError, match="param expects int"):
        main(param="x")


def test_config_class_from_annotation() -> None:
    @clicfg
    def main(cfg: DataConfig) -> int:
        return cfg.epochs

    assert main(argv=["-o", "epochs=9"]) == 9


def test_save_dir_gets_the_resolved_config(tmp_path: Path) -> None:
    main = clicfg(lambda cfg: cfg, config_class=Config)
    cfg = main(argv=["-o", f"save_dir={tmp_path / 'run'}", "param=4"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved == {
        "param": 4,
        "input_path": "data/preprocess/input.csv",
        "save_dir": str(tmp_path / "run"),
    }
    assert provenance_of(cfg) == {
        "files": [],
        "experiment": None,
        "overrides": [f"save_dir={tmp_path / 'run'}", "param=4"],
    }
    # The saved file replays the run.
    again = main(argv=["--config", str(tmp_path / "run" / "config.json")])
    assert again.param == 4


def test_to_plain_of_every_kind() -> None:
    assert to_plain(Nested) == {"model": {"lr": 0.1, "layers": [64, 64]}, "name": "run", "tags": {}}
    assert to_plain(DataConfig(out=Path("x"))) == {
        "optim": {"lr": 1e-3, "kind": "adam"},
        "epochs": 3,
        "out": "x",
    }
    assert to_plain(PydConfig()) == {"steps": 10, "ratio": 0.5}
    assert to_plain(AttrsConfig(names=["a"])) == {"seed": 0, "names": ["a"]}
    with pytest.raises(ConfigError, match="config key 'bad'"):
        to_plain({"bad": object()})


MULTI = """
defaults:
  - base
base:
  input_path: data/in.csv
  root: /data
preprocess:
  save_dir: results/pre
process_v1:
  defaults: [preprocess]
  param: 1
  save_dir: results/v1
  input_path: ${preprocess.save_dir}/out.csv
process_v2:
  defaults: [process_v1]
  param: 2
  save_dir: ${base.root}/v2-${oc.env:NAGA_TEST_SUFFIX,none}
group:
  inner:
    param: 5
"""


def test_experiments_defaults_and_interpolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from naga._yaml import load_yaml

    doc = load_yaml(MULTI)
    v1 = select_experiment(doc, "process_v1", "multi.yml")
    assert v1 == {
        "input_path": "results/pre/out.csv",
        "root": "/data",
        "save_dir": "results/v1",
        "param": 1,
    }
    assert select_experiment(doc, "process_v2", "m")["save_dir"] == "/data/v2-none"
    monkeypatch.setenv("NAGA_TEST_SUFFIX", "x")
    assert select_experiment(doc, "process_v2", "m")["save_dir"] == "/data/v2-x"
    assert select_experiment(doc, "group.inner", "m")["param"] == 5
    with pytest.raises(
        ConfigError, match=r"no experiment 'process_v3'.*Available: base, preprocess"
    ):
        select_experiment(doc, "process_v3", "m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n  defaults: [b]\nb:\n  defaults: [a]\n", "cycle (a -> b -> a)"),
        ("a:\n  x: ${nowhere.y}\n", "points nowhere"),
        ("a:\n  x: ${env:NAGA_SURELY_UNSET}\n", "NAGA_SURELY_UNSET, which is not set"),
    ],
)
def test_experiment_errors(text: str, message: str) -> None:
    from naga._yaml import load_yaml

    with pytest.raises(ConfigError) as info:
        select_experiment(load_yaml(text), "a", "f.yml")
    assert message in str(info.value)


def test_config_file_kinds(tmp_path: Path) -> None:
    main = clicfg(lambda cfg: cfg, config_class=Config)
    (tmp_path / "c.toml").write_text("param = 3\n")
    (tmp_path / "c.json").write_text('{"param": 4}')
    (tmp_path / "c.yml").write_text("param: 5\n")
    (tmp_path / "o.yml").write_text("param: 6\n+new.key: 1\n")
    assert main(argv=["--config", str(tmp_path / "c.toml")]).param == 3
    assert main(argv=["--config", str(tmp_path / "c.json")]).param == 4
    both = main(argv=["--config", str(tmp_path / "c.toml"), "--config", str(tmp_path / "c.yml")])
    assert both.param == 5
    cfg = main(
        argv=[
            "--config",
            str(tmp_path / "c.yml"),
            "--overrides",
            str(tmp_path / "o.yml"),
            "-o",
            "param=7",
        ]
    )
    assert cfg.param == 7 and cfg.new == {"key": 1}
    (tmp_path / "bad.yml").write_text("param: 1\n  x: [\n")
    with pytest.raises(ConfigError, match=r"bad.yml' line 2 is not valid YAML"):
        main(argv=["--config", str(tmp_path / "bad.yml")])
    with pytest.raises(ConfigError, match="does not exist"):
        main(argv=["--config", str(tmp_path / "missing.yml")])
    lock = tmp_path / "run.lock"
    lock.write_text("lock_version: 1\nconfig:\n  param: 8\n")
    assert main(argv=["--config", str(lock)]).param == 8


def test_help_lists_fields_with_type_default_and_comment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = clicfg(lambda cfg: cfg, config_class=Nested)
    main(argv=["--help"])
    out = capsys.readouterr().out
    assert "model.lr (float, default 0.1)" in out
    assert "--n_jobs N, --n-jobs N" in out
    main2 = clicfg(lambda cfg: cfg, config_class=Config)
    main2(argv=["-h"])
    assert "how many copies" in capsys.readouterr().out


def test_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    main = clicfg(lambda cfg: pytest.fail("must not run"), config_class=Config)
    main(argv=["--print-config", "-o", "param=2"])
    assert "param: 2" in capsys.readouterr().out


def test_spec_apply_contract() -> None:
    spec = ConfigSpec.from_class(Config)
    data = spec.defaults()
    spec.apply(data, "param", 3, origin="tasks.txt line 3")
    assert data["param"] == 3
    with pytest.raises(ConfigError, match=r"tasks.txt line 4: param expects int, got 'x'"):
        spec.apply(data, "param", "x", origin="tasks.txt line 4")
    spec.apply(data, "new.deep", 1, origin="t", add=True)
    assert spec.instantiate(data).new == {"deep": 1}


# -- issue 14: regressions -------------------------------------------------------------------


@dataclasses.dataclass
class WithModel:
    optim: Optim = dataclasses.field(default_factory=Optim)
    param: int = 1
    ratio: float = 0.5
    save_dir: Optional[str] = None  # noqa: UP045


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "+param.x=1"], "-o +param.x=1: 'param' holds 1, not a mapping"),
        (["-o", "+param=3"], "the config already has a key 'param'"),
        (["-o", "+optim.lr=3"], "the config already has a key 'optim.lr'"),
        (["-o", "+new=1", "+new=2"], "-o +new=2: the config already has a key 'new'"),
        (["-o", "+new=1", "+new.x=2"], "'new' holds 1, not a mapping"),
        (["-o", "+save_dir.x=1"], "'save_dir' holds None, not a mapping"),
        (["-o", "++x=1"], "naga has no ++"),
    ],
)
def test_plus_adds_only_new_keys_under_a_mapping(argv: list[str], message: str) -> None:
    # Issue 14.7: `+param.x=1` on an int field used to turn it into {'x': 1}.
    main = clicfg(lambda cfg: cfg, config_class=WithModel)
    with pytest.raises(ConfigError) as info:
        main(argv=argv)
    assert message in str(info.value)
    assert info.value.key is not None


def test_plus_adds_under_mappings() -> None:
    main = clicfg(lambda cfg: cfg, config_class=WithModel)
    cfg = main(argv=["-o", "+new.x=1", "+new.y=2", "+optim.extra=3"])
    assert cfg.new == {"x": 1, "y": 2} and cfg.optim.extra == 3 and cfg.param == 1
    spec = ConfigSpec.from_class(WithModel)
    data = spec.defaults()
    spec.apply(data, "+col", "v", origin="tasks.csv line 2")  # a task's `+col` column adds
    assert data["col"] == "v"


@pytest.mark.parametrize("text", ["1e400", "inf", "-inf", "+inf", "Infinity", ".inf", "nan"])
def test_non_finite_floats_are_accepted_and_saved_as_valid_json(tmp_path: Path, text: str) -> None:
    # Issue 14.14: 1e400 was taken as infinity and written as non-standard `Infinity`, while
    # inf was refused. Both are accepted; config.json stays standard JSON and replays.
    main = clicfg(lambda cfg: cfg, config_class=WithModel)
    cfg = main(argv=["-o", f"ratio={text}", f"save_dir={tmp_path}"])
    expected = float(text.replace(".inf", "inf").replace("Infinity", "inf"))
    assert cfg.ratio == expected or (expected != expected and cfg.ratio != cfg.ratio)

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    saved = json.loads((tmp_path / "config.json").read_text(), parse_constant=refuse)
    assert saved["ratio"] in ("inf", "-inf", "nan")
    again = main(argv=["--config", str(tmp_path / "config.json")])
    assert again.ratio == cfg.ratio or (again.ratio != again.ratio and cfg.ratio != cfg.ratio)


def test_yaml_exponent_floats_reach_float_fields(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("ratio: 1e-3\n")
    main = clicfg(lambda cfg: cfg, config_class=WithModel)
    assert main(argv=["--config", str(tmp_path / "c.yml")]).ratio == 0.001
    (tmp_path / "c.yml").write_text("ratio: 1e400\n")
    assert main(argv=["--config", str(tmp_path / "c.yml")]).ratio == float("inf")


def test_non_finite_values_from_files_and_defaults_write_valid_json(tmp_path: Path) -> None:
    class Limits:
        patience = float("inf")
        save_dir = str(tmp_path)

    (tmp_path / "c.yml").write_text("+sizes: [.inf, -.inf, 1]\n")
    main = clicfg(lambda cfg: cfg, config_class=Limits)
    main(argv=["--overrides", str(tmp_path / "c.yml")])
    text = (tmp_path / "config.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {
        "patience": "inf",
        "save_dir": str(tmp_path),
        "sizes": ["inf", "-inf", 1],
    }


@pytest.mark.parametrize(
    ("files", "argv", "key"),
    [
        ({}, ["-o", "+more=[2024-01-01, 2024-01-01 10:00:00]"], "more"),
        ({}, ["-o", "days=[2024-01-01, 2024-01-01 10:00:00]"], "days"),
        ({"c.yml": "+more: [2024-01-01, 2024-01-01 10:00:00]\n"}, ["--overrides", "c.yml"], "more"),
        (
            {"c.yml": "days: [2024-01-01, !!timestamp 2024-01-01 10:00:00]\n"},
            ["--config", "c.yml"],
            "days",
        ),
        ({"c.toml": "days = [2024-01-01, 2024-01-01T10:00:00]\n"}, ["--config", "c.toml"], "days"),
    ],
)
def test_yaml_and_toml_dates_are_text(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    argv: list[str],
    key: str,
) -> None:
    # Issue 14.13: dates inside lists or `+` keys used to end in a traceback writing config.json.
    class Days:
        days: list = []  # noqa: RUF012
        save_dir = "out"

    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cfg = clicfg(lambda cfg: cfg, config_class=Days)(argv=argv)
    value = getattr(cfg, key)
    assert value in (["2024-01-01", "2024-01-01 10:00:00"], ["2024-01-01", "2024-01-01T10:00:00"])
    assert json.loads((tmp_path / "out" / "config.json").read_text())[key] == value


def test_binary_in_a_config_file_is_an_error_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("param: 1\nblob: !!binary aGVsbG8=\n")
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError, match=r"c.yml' line 2 is refused: a !!binary value") as info:
        main(argv=["--config", str(tmp_path / "c.yml")])
    assert info.value.line == 2 and info.value.path == str(tmp_path / "c.yml")


def test_non_utf8_override_is_a_config_error() -> None:
    # Issue 14.13: bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape).
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError, match=r"-o input_path=caf\\xe9: byte 0xe9 is not UTF-8"):
        main(argv=["-o", "input_path=caf\udce9"])


def test_save_dir_through_a_folder_that_does_not_exist_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14.13: died with FileNotFoundError on the rename; now works as `mkdir -p` would.
    monkeypatch.chdir(tmp_path)
    main = clicfg(lambda cfg: cfg, config_class=Config)
    main(argv=["-o", "save_dir=results/preprocess/../process_v2"])
    assert json.loads((tmp_path / "results/process_v2/config.json").read_text())["param"] == 1


def test_a_save_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError, match=r"goes through '.*taken', which is a file, not a folder"):
        main(argv=["-o", f"save_dir={tmp_path / 'taken' / 'run'}"])


@pytest.mark.parametrize("name", ["/dev/null", "<dir>"])
def test_config_path_that_is_not_a_regular_file(tmp_path: Path, name: str) -> None:
    # Issue 14.16: /dev/null and a folder were both called "does not exist".
    main = clicfg(lambda cfg: cfg, config_class=Config)
    if name == "/dev/null":
        assert main(argv=["--config", "/dev/null"]).param == 1  # read like `cat` would: empty
    else:
        with pytest.raises(ConfigError, match="is a folder, not a file"):
            main(argv=["--config", str(tmp_path)])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "d.yml",
            "param: 1\nx: 2\nparam: 3\n",
            "line 3 is not valid YAML: found duplicate key 'param' (first on line 1)",
        ),
        (
            "d.json",
            '{"param": 1,\n "param": 2}',
            "line 2 is not valid JSON: duplicate key 'param' (first on line 1)",
        ),
    ],
)
def test_duplicate_keys_are_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    # Issue 14.16: duplicate keys were silently last-wins.
    (tmp_path / name).write_text(text)
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError) as info:
        main(argv=["--config", str(tmp_path / name)])
    assert message in str(info.value)


EXPERIMENTS = """
defaults: [base]
base:
  input_path: data/in.csv
  other_script_key: 1
broken:
  defaults: [nowhere]
typo:
  defaults: [brokn]
good:
  param: 2
"""


def test_a_broken_entry_blocks_only_the_experiments_that_use_it(tmp_path: Path) -> None:
    # Issue 14.16: one broken entry used to block every --experiment, naming the missing parent.
    (tmp_path / "e.yml").write_text(EXPERIMENTS)
    main = clicfg(lambda cfg: cfg, config_class=Config)
    cfg = main(argv=["--config", str(tmp_path / "e.yml"), "--experiment", "good"])
    assert (cfg.param, cfg.input_path) == (2, "data/in.csv")
    with pytest.raises(ConfigError) as info:
        main(argv=["--config", str(tmp_path / "e.yml"), "--experiment", "broken"])
    assert "experiment 'broken' lists 'nowhere' in its defaults:, but the file has no entry" in str(
        info.value
    )
    with pytest.raises(ConfigError, match="Did you mean 'broken'"):
        main(argv=["--config", str(tmp_path / "e.yml"), "--experiment", "typo"])


def test_top_level_defaults_only_supply_defaults(tmp_path: Path) -> None:
    # Issue 14.16: `base` (shared by the scripts of a file) forced its keys on every experiment,
    # so a script whose config lacks `other_script_key` could run none. Keys the experiment sets
    # itself are still checked.
    (tmp_path / "e.yml").write_text(EXPERIMENTS + "bad:\n  parm: 3\n")
    main = clicfg(lambda cfg: cfg, config_class=Config)
    cfg = main(argv=["--config", str(tmp_path / "e.yml"), "--experiment", "good"])
    assert not hasattr(cfg, "other_script_key")
    with pytest.raises(ConfigError, match=r"no key 'parm'\. Did you mean 'param'"):
        main(argv=["--config", str(tmp_path / "e.yml"), "--experiment", "bad"])


def test_global_defaults_do_not_make_a_cycle_with_their_own_parents() -> None:
    from naga._yaml import load_yaml

    doc = load_yaml("defaults: [base]\nroot:\n  a: 1\nbase:\n  defaults: [root]\n  b: 2\n")
    assert select_experiment(doc, "root", "f.yml") == {"a": 1, "b": 2}


@pytest.mark.parametrize("with_defaults", [True, False])
def test_a_file_of_experiments_without_experiment_lists_them(
    tmp_path: Path, with_defaults: bool
) -> None:
    # Issue 14.16: said "no key 'base' ... write +base=...".
    text = EXPERIMENTS if with_defaults else "base:\n  param: 1\nsmall:\n  param: 2\n"
    (tmp_path / "e.yml").write_text(text)
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError) as info:
        main(argv=["--config", str(tmp_path / "e.yml")])
    assert "holds experiments (base, " in str(info.value)
    assert "choose one with --experiment NAME" in str(info.value)
    assert info.value.choices and "base" in info.value.choices


def test_a_misspelt_section_is_not_taken_for_experiments(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("optm:\n  lr: 0.1\n")
    main = clicfg(lambda cfg: cfg, config_class=WithModel)
    with pytest.raises(ConfigError, match=r"no key 'optm'\. Did you mean 'optim'"):
        main(argv=["--config", str(tmp_path / "c.yml")])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a0: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(f"a{i}: [{', '.join([repr(f'${{a{i - 1}}}')] * 10)}]\n" for i in range(1, 9)),
            "references expand the config to more than 1,000,000 values",
        ),
        (
            "s0: xxxxxxxxxx\n"
            + "".join(f"s{i}: '{f'${{s{i - 1}}}' * 10}'\n" for i in range(1, 10)),
            "references expand the config to more than 1,000,000 values",
        ),
    ],
)
def test_reference_bombs_are_refused(tmp_path: Path, text: str, message: str) -> None:
    # Issue 14.12: `${...}` references of references grow exponentially, like an alias bomb.
    (tmp_path / "b.yml").write_text(text)
    main = clicfg(lambda cfg: cfg, config_class=Config)
    with pytest.raises(ConfigError, match=message) as info:
        main(argv=["--config", str(tmp_path / "b.yml")])
    assert info.value.path == str(tmp_path / "b.yml")
