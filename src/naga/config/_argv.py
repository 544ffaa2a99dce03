"""The command line of a ``@clicfg`` function, parsed with argparse."""

from __future__ import annotations

from naga._errors import ConfigError
from naga._flags import flag_names
from naga.launch import SweepOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn


__all__ = ["ParsedArgs", "build_parser", "parse_argv"]


class ParsedArgs:
    """What the command line asked for, before any file is read."""

    def __init__(
        self,
        configs: list[str] | None = None,
        experiment: str | None = None,
        overrides_file: str | None = None,
        overrides: list[str] | None = None,
        print_config: bool = False,
        help: bool = False,
        sweep: SweepOptions | None = None,
        if_stale: bool = False,
    ) -> None:
        self.configs = configs or []
        self.experiment = experiment
        self.overrides_file = overrides_file
        self.overrides = overrides or []
        self.print_config = print_config
        self.help = help
        self.sweep = sweep or SweepOptions()
        self.if_stale = if_stale


def _error(message: str) -> NoReturn:
    hint = ""
    if "unrecognized arguments" in message:
        extra = message.split(":", 1)[-1].strip().split()
        if extra and "=" in extra[0] and not extra[0].startswith("-"):
            hint = f" Overrides go after -o: -o {' '.join(extra)}"
        else:
            hint = " Run with --help to list the flags."
    raise ConfigError(f"{message}.{hint}")


def _parser_class() -> Any:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            _error(message)

    return Parser


def build_parser(prog: str, description: str | None = None, epilog: str | None = None) -> Any:
    """The argparse parser of a clicfg command line (flags only: fields are ``-o`` overrides)."""
    import argparse

    parser = _parser_class()(
        prog=prog,
        description=description,
        epilog=epilog,
        add_help=False,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("-h", "--help", action="store_true", help="show this help, with every config field")
    add(
        "-o",
        "--override",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="set config fields (dotted keys; +KEY=VALUE adds a new key)",
    )
    add(
        "--config",
        dest="configs",
        action="append",
        default=[],
        metavar="FILE",
        help="a YAML, TOML or JSON config file (or a run.lock to replay); repeatable",
    )
    add("--experiment", metavar="NAME", help="a named experiment of the --config file")
    add(
        *flag_names("overrides"),
        dest="overrides_file",
        metavar="FILE",
        help="a YAML file of KEY: VALUE overrides (dotted keys)",
    )
    add(
        *flag_names("print_config"),
        action="store_true",
        help="print the resolved config as YAML and exit",
    )
    add(
        *flag_names("if_stale"),
        action="store_true",
        help="run only when save_dir holds no finished run, or its run is stale (like make)",
    )
    sweep = parser.add_argument_group("task sweeps")
    sweep.add_argument(
        "--tasks",
        metavar="FILE",
        help="run one task per line/row/item of FILE (txt, yaml, json, csv, tsv)",
    )
    sweep.add_argument(
        *flag_names("tasks_key"), metavar="KEY", help="use the list at config KEY as tasks"
    )
    sweep.add_argument(
        "--sweep",
        dest="grid",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=V1,V2",
        help="a grid of values (typed like -o; brackets and quotes protect commas): the tasks "
        "are the cartesian product of the grids (times the --tasks ones)",
    )
    sweep.add_argument(
        *flag_names("task_to"),
        metavar="KEY",
        help="config key each task value goes to (dict tasks merge at the root)",
    )
    sweep.add_argument(
        *flag_names("n_jobs"),
        type=int,
        default=1,
        metavar="N",
        help="tasks running at once (default 1)",
    )
    sweep.add_argument(
        *flag_names("slurm_config"),
        metavar="FILE",
        help="run the tasks on Slurm with the options of this YAML file",
    )
    sweep.add_argument(
        "--dask",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the tasks on a Dask cluster (tcp://host:port, or a local one)",
    )
    sweep.add_argument(
        *flag_names("task_timeout"),
        type=float,
        metavar="MIN",
        help="minutes a task may run (0.5 is 30 s) before it is stopped and marked timeout",
    )
    sweep.add_argument(
        "--force", action="store_true", help="rerun every task, done and up to date ones too"
    )
    sweep.add_argument(
        "--rerun",
        choices=["failed"],
        help="failed: rerun only the tasks that did not finish, not done ones that went stale",
    )
    sweep.add_argument(
        "--wait",
        action="store_true",
        help="when another sweep is using the folder, wait for it instead of refusing",
    )
    sweep.add_argument(
        *flag_names("dry_run"),
        action="store_true",
        help="list each task, its save_dir and resources, and whether it would run and why; "
        "run, submit and write nothing",
    )
    sweep.add_argument(
        *flag_names("debug_task"),
        metavar="LABEL",
        help="run the task with this label in this process (for a debugger: NAGA_DEBUG=1)",
    )
    sweep.add_argument(
        "--detach",
        action="store_true",
        help="with --slurm_config: submit the tasks and exit; follow with `naga tasks DIR`",
    )
    return parser


def _only_overrides(argv: list[str]) -> list[str] | None:
    """The common command lines (none, or only ``-o KEY=VALUE ...``) without building argparse.

    Building the full parser costs milliseconds of start-up; anything else goes to argparse.
    """
    overrides: list[str] = []
    after_flag = False
    for token in argv:
        if token in ("-o", "--override"):
            after_flag = True
        elif token.startswith("-") or not after_flag:
            return None
        else:
            overrides.append(token)
    if after_flag and not overrides:
        return None
    return overrides


def parse_argv(argv: list[str], prog: str) -> ParsedArgs:
    """Parse ``argv`` (without the program name). Raises ``ConfigError`` on a usage mistake."""
    quick = _only_overrides(argv)
    if quick is not None:
        return ParsedArgs(overrides=quick)
    ns: Any = build_parser(prog).parse_args(argv)
    if ns.n_jobs < 1:
        raise ConfigError(
            f"--n_jobs {ns.n_jobs}: give a number of parallel tasks of 1 or more.", value=ns.n_jobs
        )
    if ns.task_timeout is not None and not 0 < ns.task_timeout < float("inf"):
        raise ConfigError(
            f"--task_timeout {ns.task_timeout}: give the minutes a task may run, more than 0 "
            f"(0.5 is 30 s).",
            value=ns.task_timeout,
        )
    sweep = SweepOptions(
        tasks=ns.tasks,
        tasks_key=ns.tasks_key,
        task_to=ns.task_to,
        n_jobs=ns.n_jobs,
        slurm_config=ns.slurm_config,
        dask=ns.dask,
        task_timeout=ns.task_timeout,
        force=ns.force,
        rerun=ns.rerun,
        wait=ns.wait,
        sweep=tuple(ns.grid),
        dry_run=ns.dry_run,
        debug_task=ns.debug_task,
        detach=ns.detach,
    )
    needs_source = [
        ("--task_to", ns.task_to),
        ("--slurm_config", ns.slurm_config),
        ("--dask", ns.dask),
        ("--task_timeout", ns.task_timeout is not None),
        ("--force", ns.force),
        ("--rerun", ns.rerun),
        ("--wait", ns.wait),
        ("--dry_run", ns.dry_run),
        ("--debug_task", ns.debug_task is not None),
        ("--detach", ns.detach),
    ]
    given = [flag for flag, value in needs_source if value]
    if not sweep.active and given:
        raise ConfigError(
            f"{given[0]} needs a task source: add --tasks FILE, --tasks_key KEY or --sweep "
            f"KEY=V1,V2."
        )
    if ns.debug_task is not None and (ns.dry_run or ns.detach):
        other = "--dry_run" if ns.dry_run else "--detach"
        raise ConfigError(
            f"--debug_task runs one task here; {other} is for the whole sweep: give one of them."
        )
    if ns.experiment and not ns.configs:
        raise ConfigError(
            f"--experiment {ns.experiment} needs the file that defines it: add --config FILE.",
            value=ns.experiment,
        )
    return ParsedArgs(
        configs=ns.configs,
        experiment=ns.experiment,
        overrides_file=ns.overrides_file,
        overrides=ns.overrides,
        print_config=ns.print_config,
        help=ns.help,
        sweep=sweep,
        if_stale=ns.if_stale,
    )
