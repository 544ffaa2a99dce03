"""``@clicfg``: a function of a config object becomes a full command line."""

from __future__ import annotations

import os
import sys

from naga._errors import ConfigError, NagaError, did_you_mean, exit_with_error
from naga._paths import CONFIG_NAME
from naga._provenance import remember
from naga.config._schema import ConfigSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Generic, ParamSpec, TypeVar, overload

    from naga.config._argv import ParsedArgs

    P = ParamSpec("P")
    R = TypeVar("R")

__all__ = ["ClicfgFunction", "clicfg"]


class _Clicfg:
    """The object ``@clicfg`` returns: call it like the function, or run it as a script.

    - ``main()`` in a script run as ``python process.py ...`` parses ``sys.argv``;
    - ``main()`` anywhere else uses the defaults; ``main(cfg)`` uses ``cfg``;
      ``main(param=3)`` overrides fields; ``main(argv=[...])`` parses an explicit command line.
    """

    __name__: str
    __qualname__: str

    def __init__(self, func: Callable[..., Any], config_class: Any, prog: str | None) -> None:
        self.__wrapped__ = func
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(self, name, getattr(func, name, None))
        self.__dict__.update(getattr(func, "__dict__", {}))
        self._config_class = config_class
        self._spec: ConfigSpec | None = None
        self._prog = prog

    @property
    def spec(self) -> ConfigSpec:
        """The :class:`ConfigSpec` of the config class (built on first use)."""
        if self._spec is None:
            config_class = self._config_class
            if config_class is None:
                config_class = _first_parameter_type(self.__wrapped__)
            self._spec = ConfigSpec.from_class(config_class)
        return self._spec

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        import functools

        return functools.partial(self, instance)

    def __repr__(self) -> str:
        return f"<clicfg {self.__qualname__}>"

    def __call__(self, *args: Any, argv: list[str] | None = None, **kwargs: Any) -> Any:
        if args:
            if len(args) != 1 or kwargs:
                raise TypeError(
                    f"{self.__name__}() takes one config object, or keyword overrides, not both."
                )
            return self._call_with_config(args[0])
        if argv is not None:
            return self._finish(self._run_command_line(list(argv)))
        if kwargs:
            data = self.spec.defaults()
            for key, value in kwargs.items():
                self.spec.apply(data, key, value, origin=f"{self.__name__}({key}=...)")
            return self.run_resolved(data, {"files": [], "experiment": None, "overrides": []})
        if self._is_script_call():
            try:
                outcome = self._run_command_line(_script_argv(), script=True)
                if outcome[0] == "run":
                    config = self._prepare(outcome[1], outcome[2])
            except NagaError as error:
                exit_with_error(error, prog=os.path.basename(sys.argv[0]))
            # The user's function runs outside the handler: its exceptions are its own.
            if outcome[0] != "run":
                return outcome[1]
            return self._run(config, outcome[1].get("save_dir"), script=True)
        return self.run_resolved(self.spec.defaults(), None)

    def _is_script_call(self) -> bool:
        if self.__module__ != "__main__" or not sys.argv or not sys.argv[0]:
            return False
        code = getattr(self.__wrapped__, "__code__", None)
        if code is None:
            return False
        try:
            return os.path.samefile(sys.argv[0], code.co_filename)
        except OSError:
            return False

    def _call_with_config(self, config: Any) -> Any:
        if isinstance(config, dict) and self.spec.kind != "dict":
            data = self.spec.defaults()
            self.spec.merge(data, config, origin=f"{self.__name__}(<dict>)")
            return self.run_resolved(data, None)
        _announce_replacement(_save_dir_of(config), config)
        _save_config(config)
        return self._run(config, _save_dir_of(config))

    def _finish(self, outcome: tuple[Any, ...]) -> Any:
        if outcome[0] == "run":
            return self.run_resolved(outcome[1], outcome[2])
        return outcome[1]

    def _run_command_line(self, argv: list[str], *, script: bool = False) -> tuple[Any, ...]:
        """Parse and resolve ``argv``; returns ``("run", data, provenance)`` or ``("done", value)``."""
        from naga.config._argv import parse_argv

        prog = self._prog or (os.path.basename(sys.argv[0]) if script else self.__name__)
        parsed = parse_argv(argv, prog)
        if parsed.help:
            from naga.config._help import render_help

            print(render_help(self, prog))
            _exit_or_return(script)
            return ("done", None)
        data, provenance = self.resolve(parsed)
        if parsed.print_config:
            from naga._plain import to_plain
            from naga._yaml import dump_yaml

            print(dump_yaml(to_plain(data)), end="")
            _exit_or_return(script)
            return ("done", None)
        if parsed.sweep.active and parsed.sweep.debug_task is not None:
            # One task, run here as a single run: its exception reaches the caller (and an
            # @unsafe_debug above @clicfg) untouched.
            from naga.launch import debug_task_config

            data = debug_task_config(self, data, parsed.sweep)
        elif parsed.sweep.active:
            from naga.launch import run_sweep

            try:
                result = run_sweep(self, data, parsed.sweep, provenance)
            except KeyboardInterrupt:
                if script:  # the sweep said what it stopped: no traceback, the shell's status
                    raise SystemExit(130) from None
                raise
            if script and result.exit_code:
                raise SystemExit(result.exit_code)
            return ("done", result)
        self.spec.instantiate(data)  # a missing required value is a config error, raised here
        if parsed.if_stale and _up_to_date(data.get("save_dir"), data):
            _exit_or_return(script)
            return ("done", None)
        return ("run", data, provenance)

    def resolve(self, parsed: ParsedArgs) -> tuple[dict[str, Any], dict[str, Any]]:
        """Merge every source of ``parsed`` over the defaults: files, experiment, overrides."""
        spec = self.spec
        if parsed.configs or parsed.overrides_file:
            from naga.config._files import (
                interpolate,
                is_replay,
                load_config_file,
                select_experiment,
            )
        data = spec.defaults()
        files = [os.path.abspath(p) for p in parsed.configs]
        for index, path in enumerate(parsed.configs):
            doc = load_config_file(path)
            if parsed.experiment and index == len(parsed.configs) - 1:
                doc = select_experiment(doc, parsed.experiment, path, known=spec.has)
                origin = f"experiment '{parsed.experiment}' of '{path}'"
            else:
                _refuse_experiments_file(spec, doc, path)
                if not is_replay(path):  # a run's record holds its values as the run took them
                    doc = interpolate(doc, root=doc, path=path)
                origin = f"config file '{path}'"
            spec.merge(data, doc, origin=origin, replay=is_replay(path))
        if parsed.overrides_file:
            path = parsed.overrides_file
            files.append(os.path.abspath(path))
            for key, value in load_config_file(path).items():
                spec.apply(data, str(key), value, origin=f"overrides file '{path}'")
        for item in parsed.overrides:
            _check_utf8(item, f"-o {_shown(item)}", key=_shown(item.partition("=")[0]))
            key, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(
                    f"-o {item}: an override is KEY=VALUE (for example -o param=10); "
                    f"write -o {item.strip('+') or 'key'}=<value>.",
                    value=item,
                )
            if not key.strip("+ "):
                raise ConfigError(
                    f"-o {item}: the key is missing; write -o KEY={text} "
                    f"(`--help` lists every key).",
                    value=item,
                )
            spec.apply_text(data, key.strip(), text, origin=f"-o {item}")
        provenance: dict[str, Any] = {
            "files": files,
            "experiment": parsed.experiment,
            "overrides": list(parsed.overrides),
        }
        if files:  # what the files gave the run, for a judgement by value (naga status)
            from naga.config._replay import defaults_of, taken_values

            configs = [os.path.abspath(p) for p in parsed.configs]
            extra = os.path.abspath(parsed.overrides_file) if parsed.overrides_file else None
            provenance["configs"], provenance["overrides_file"] = configs, extra
            provenance["taken"] = taken = taken_values(
                configs, parsed.experiment, extra, list(parsed.overrides), data
            )
            provenance["defaults"] = defaults_of(spec.defaults(), taken)
        return data, provenance

    def run_resolved(self, data: dict[str, Any], provenance: dict[str, Any] | None = None) -> Any:
        """Instantiate the user's config from resolved ``data`` and call the function.

        When the config has a ``save_dir``, the resolved config is first written atomically to
        ``<save_dir>/config.json`` (JSON is valid YAML: ``--config`` reads it back).
        """
        return self._run(self._prepare(data, provenance), data.get("save_dir"))

    def _run(self, config: Any, save_dir: Any, *, script: bool = False) -> Any:
        """Call the user's function; with a save_dir, keep the run's record and its result.

        The record (``.naga/record.json``) says ``running`` before the call and ``done``,
        ``failed``, ``interrupted`` or ``requeued`` (submitit's exit of a Slurm job it requeues)
        after; a JSON-able return value goes to ``result.json``.
        In a script, a naga error raised inside the function (a data path runlock cannot find)
        is one message and exit status 2, unless ``NAGA_DEBUG`` asks for the traceback.
        """
        record = None
        if save_dir and isinstance(save_dir, (str, os.PathLike)):
            from naga._record import start_record

            record = start_record(os.fspath(save_dir))
        try:
            value = self.__wrapped__(config)
        except KeyboardInterrupt as exc:
            if record is not None:
                record.finish("interrupted", exc)
            raise
        except SystemExit as exc:
            if record is not None:
                record.finish_exit(exc)
            raise
        except BaseException as exc:
            if record is not None:
                record.finish("failed", exc)
            debug = os.environ.get("NAGA_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
            if script and isinstance(exc, NagaError) and not debug:
                exit_with_error(exc, prog=os.path.basename(sys.argv[0]))
            raise
        if record is not None:
            from naga._record import write_result

            write_result(os.fspath(save_dir), value, name=f"{self.__name__}()")
            record.finish("done")
        return value

    def _prepare(self, data: dict[str, Any], provenance: dict[str, Any] | None) -> Any:
        """The user's config object, with config.json written: every config error is raised
        here, before the user's function runs."""
        config = self.spec.instantiate(data)
        remember(config, provenance)
        _announce_replacement(data.get("save_dir"), data)
        _save_config(data)
        return config


if TYPE_CHECKING:

    class ClicfgFunction(_Clicfg, Generic[P, R]):
        """What type checkers see: the wrapped function's own signature (as tyro's ``cli()``),
        plus ``main()`` (parse the command line), ``main(argv=[...])`` and keyword overrides
        ``main(param=3)``."""

        @overload  # type: ignore[override]
        def __call__(self, *, argv: list[str] | None = None) -> R: ...
        @overload
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
        @overload
        def __call__(self, **overrides: Any) -> R: ...
        def __call__(self, *args: Any, **kwargs: Any) -> R: ...

else:
    ClicfgFunction = _Clicfg
    _Clicfg.__name__ = _Clicfg.__qualname__ = "ClicfgFunction"


def _up_to_date(save_dir: Any, data: dict[str, Any]) -> bool:
    """For ``--if_stale``: True (and one line saying why) when ``save_dir`` holds a finished run
    of this very config that is still up to date."""
    if not save_dir or not isinstance(save_dir, (str, os.PathLike)):
        raise ConfigError(
            "--if_stale needs a save_dir to look at: give the config a save_dir "
            "(-o save_dir=results/NAME).",
            key="save_dir",
        )
    folder = os.fspath(save_dir)
    from naga._record import read_record

    record = read_record(folder)
    if record is None or record.get("status") != "done":
        state = "no finished run" if record is None else f"a {record.get('status')} run"
        print(f"naga: {folder} holds {state}: running.", file=sys.stderr)
        return False
    import json

    from naga._plain import to_plain

    try:
        with open(os.path.join(folder, CONFIG_NAME), encoding="utf-8") as handle:
            same_config = json.load(handle) == to_plain(data)
    except (OSError, ValueError):
        same_config = False
    if not same_config:
        print(f"naga: {folder} holds a run of another config: running.", file=sys.stderr)
        return False
    from naga._paths import LOCK_NAME

    if not os.path.isfile(os.path.join(folder, LOCK_NAME)):
        print(f"naga: {folder} is done (it keeps no run.lock to judge): skipped.", file=sys.stderr)
        return True
    from naga.lock import judge

    verdict = judge(folder)
    if verdict.stale:
        print(f"naga: {folder} is stale ({verdict.first_reason()}): running.", file=sys.stderr)
        return False
    print(
        f"naga: {folder} is up to date (done {record.get('end')}, nothing it used changed): "
        f"skipped.",
        file=sys.stderr,
    )
    return True


def _save_dir_of(config: Any) -> Any:
    return config.get("save_dir") if isinstance(config, dict) else getattr(config, "save_dir", None)


def _announce_replacement(save_dir: Any, config: Any) -> None:
    """One line when a finished run in ``save_dir`` is about to be replaced by another config."""
    if not save_dir or not isinstance(save_dir, (str, os.PathLike)):
        return
    folder = os.fspath(save_dir)
    from naga._record import read_record

    record = read_record(folder)
    if record is None or record.get("status") != "done":
        return
    import json

    from naga._plain import flatten, to_plain

    try:
        with open(os.path.join(folder, CONFIG_NAME), encoding="utf-8") as handle:
            old = flatten(json.load(handle))
    except (OSError, ValueError):
        return
    new = flatten(to_plain(config))
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if not changed:
        return
    before = ", ".join(f"{k}={old.get(k)!r}" for k in changed[:3])
    after = ", ".join(f"{k}={new.get(k)!r}" for k in changed[:3])
    more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
    print(
        f"naga: {folder} held a finished run with {before}; replacing it with {after}{more}. "
        f"Runs built on it will show as stale.",
        file=sys.stderr,
    )


def _script_argv() -> list[str]:
    """The script's arguments. ``ipython -i process.py -o param=3`` hands ``-o`` to IPython's own
    parser, which drops it from ``sys.argv``: recover them from the interpreter's ``orig_argv``."""
    argv = sys.argv[1:]
    if "IPython" not in sys.modules or not hasattr(sys, "orig_argv"):
        return argv
    original = sys.orig_argv
    for index in range(2, len(original)):
        try:
            if os.path.samefile(original[index], sys.argv[0]):
                rest = original[index + 1 :]
                if rest[:1] == ["--"]:
                    rest = rest[1:]
                return rest if len(rest) > len(argv) else argv
        except OSError:
            continue
    return argv


def _exit_or_return(script: bool) -> None:
    if script:
        sys.stdout.flush()
        raise SystemExit(0)


def _refuse_experiments_file(spec: ConfigSpec, doc: dict[str, Any], path: str) -> None:
    """A file of named experiments given without ``--experiment``: say so, and list them.

    Recognised when none of its top-level keys is a config key and its entries are mappings,
    unless one of them looks like a misspelt key (then the usual did-you-mean error follows).
    """
    items = [(str(k), v) for k, v in doc.items() if str(k) != "defaults"]
    keys = [k for k, _ in items]
    if not keys or any(spec.has(k) or k.startswith("+") for k in keys):
        return
    if "defaults" in doc and spec.has("defaults"):
        return
    entries = [k for k, v in items if isinstance(v, dict)]
    if len(entries) != len(keys):
        return
    if "defaults" not in doc and any(did_you_mean(k, spec.keys()) for k in entries):
        return
    raise ConfigError(
        f"config file '{path}' holds experiments ({', '.join(entries)}), not config keys: "
        f"choose one with --experiment NAME.",
        path=path,
        choices=entries,
    )


def _save_config(config: Any) -> None:
    save_dir = (
        config.get("save_dir") if isinstance(config, dict) else getattr(config, "save_dir", None)
    )
    if not save_dir or not isinstance(save_dir, (str, os.PathLike)):
        return
    import json

    from naga._atomic import atomic_write_text
    from naga._plain import to_plain

    text = json.dumps(
        _json_safe(to_plain(config), ""), indent=2, ensure_ascii=False, allow_nan=False
    )
    folder = os.fspath(save_dir)
    try:
        atomic_write_text(os.path.join(folder, CONFIG_NAME), text + "\n")
    except OSError as exc:
        raise _unwritable(folder, exc) from exc


def _json_safe(value: Any, key: str) -> Any:
    """Plain data as standard JSON can hold it: ``inf``, ``-inf`` and ``nan`` become those
    strings (a float field reads them back); text that is not UTF-8 is an error naming its key."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, str):
        _check_utf8(value, f"the config key '{_shown(key)}'", key=_shown(key))
    elif isinstance(value, dict):
        out = {}
        for k, v in value.items():
            dotted = f"{key}.{k}" if key else str(k)
            if isinstance(k, str):
                _check_utf8(k, f"the config key '{_shown(dotted)}'", key=_shown(dotted))
            out[k] = _json_safe(v, dotted)
        return out
    elif isinstance(value, list):
        return [_json_safe(v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _check_utf8(text: str, where: str, *, key: str | None = None) -> None:
    """Raise ``ConfigError`` when ``text`` holds bytes that were not UTF-8 (from the command
    line or the environment, Python keeps them as lone surrogates, which no file can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        if "\udc80" <= char <= "\udcff":
            what = f"byte 0x{char.encode('utf-8', 'surrogateescape')[0]:02x}"
        else:
            what = f"the lone surrogate U+{ord(char):04X}"
        raise ConfigError(
            f"{where}: {what} is not UTF-8, and naga saves configs as UTF-8 JSON. "
            f"Give the value in UTF-8 (check the encoding of the terminal or file it comes from).",
            key=key,
            value=_shown(text),
        ) from exc


def _shown(text: str) -> str:
    """``text`` printable: bytes that were not UTF-8 as ``\\xNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no byte stands for (U+D800): \ud800
        return "".join(
            c.encode(
                "utf-8", "surrogateescape" if "\udc80" <= c <= "\udcff" else "backslashreplace"
            ).decode("utf-8", "backslashreplace")
            for c in text
        )


def _unwritable(folder: str, exc: OSError) -> ConfigError:
    culprit = exc.filename or folder
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        culprit = folder
        while not os.path.lexists(culprit) and os.path.dirname(culprit) not in ("", culprit):
            culprit = os.path.dirname(culprit)
        where = "is" if culprit == folder else f"goes through '{culprit}', which is"
        return ConfigError(
            f"save_dir '{folder}' {where} a file, not a folder: give another save_dir "
            f"(-o save_dir=PATH), or move that file away.",
            path=folder,
            key="save_dir",
            value=folder,
        )
    parent = os.path.dirname(os.fspath(culprit)) or os.curdir
    return ConfigError(
        f"cannot write {CONFIG_NAME} in save_dir '{folder}': {exc.strerror or exc} on "
        f"'{culprit}'. Give a folder you can write to (-o save_dir=PATH), or make '{parent}' "
        f"writable.",
        path=folder,
        key="save_dir",
        value=folder,
    )


def _first_parameter_type(func: Callable[..., Any]) -> Any:
    import inspect

    params = list(inspect.signature(func, eval_str=True).parameters.values())
    if not params or params[0].annotation is inspect.Parameter.empty:
        raise TypeError(
            f"@clicfg on {func.__qualname__}: pass config_class=..., or annotate the first "
            f"parameter with the config class (def {func.__name__}(cfg: Config))."
        )
    return params[0].annotation


if TYPE_CHECKING:

    @overload
    def clicfg(
        func: Callable[P, R], *, config_class: Any = None, prog: str | None = None
    ) -> ClicfgFunction[P, R]: ...
    @overload
    def clicfg(
        func: None = None, *, config_class: Any = None, prog: str | None = None
    ) -> Callable[[Callable[P, R]], ClicfgFunction[P, R]]: ...


def clicfg(
    func: Callable[..., Any] | None = None, *, config_class: Any = None, prog: str | None = None
) -> Any:
    """Give a function of a config object a full command line.

    Args:
        func: The function (when used as ``@clicfg`` without arguments).
        config_class: A plain class, dataclass, pydantic model, attrs class, or dict of
            defaults. Defaults to the annotation of the function's first parameter.
        prog: The program name shown in help and errors (default: the script's name).

    Returns:
        A :class:`ClicfgFunction` wrapping ``func``.

    Example:
        >>> class Config:
        ...     param = 1
        >>> @clicfg(config_class=Config)
        ... def main(cfg: Config):
        ...     return cfg.param
        >>> main(argv=["-o", "param=10"])
        10
    """
    if func is None:
        return lambda f: _Clicfg(f, config_class, prog)
    return _Clicfg(func, config_class, prog)
