"""``rerun``: reproduce a run from its receipt alone, and compare what it produces.

For each stage (the run, and with ``upstream=True`` first every upstream stage it embedded, in
dependency order, each from the copy of its receipt that its downstream used):

1. the recorded code (the snapshot of a dirty tree, else the commit) is checked out in a
   temporary detached ``git worktree`` of the repository that encloses the run folder;
2. the data is checked against the receipt; files git does not track are read from the user's
   tree through symlinks in the worktree (never copied or moved), data outside the repository
   where it lies, and an upstream's outputs from its rerun folder when it was rerun first;
3. packages that differ from those the run imported are named (a warning; ``strict`` refuses);
4. the script runs in the worktree, from the run's working directory, with the recorded config
   (``--config <rerun folder>/.naga/rerun-config.yml``), writing to a new folder
   (``results/train@rerun-1``), or to the original one with ``in_place``;
5. the new outputs are compared, file by file, with the outputs the receipt recorded.

The user's working tree, index, HEAD and branches are never touched; the worktree is removed
afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from naga._atomic import atomic_write_text
from naga._errors import LockError, NagaError
from naga._paths import LOCK_NAME, TASKS_NAME
from naga._yaml import dump_yaml
from naga.lock._format import find_lock, load_lock
from naga.lock._judge import _mapping
from naga.lock._rerun_check import (
    check_data,
    check_worktree_data,
    code_differences,
    compare_outputs,
    link_upstreams,
    output_stats,
    relocate,
)
from naga.lock._rerun_plan import Plan, _shown, plan_stage, rerun_folder
from naga.lock._worktree import Worktree, in_commit

__all__ = ["RerunReport", "RerunStage", "rerun"]

PathLike = str | os.PathLike[str]


@dataclass
class RerunStage:
    """The outcome of rerunning one stage.

    Attributes:
        run: The run folder, as shown.
        folder: Where the rerun wrote.
        commit: The commit (or snapshot commit) that was checked out.
        command: The command that ran (in the worktree).
        status: ``planned`` (dry run), ``reproduced``, ``differs``, ``failed`` or ``skipped``.
        identical: Output files identical to the recorded ones.
        total: Output files the receipt recorded.
        differences: Each output file that differs: ``time.txt modified``.
        exit_code: The script's exit status (None when it did not run).
    """

    run: str
    folder: str
    commit: str
    command: list[str]
    status: str = "planned"
    identical: int = 0
    total: int = 0
    differences: list[str] = field(default_factory=list)
    exit_code: int | None = None

    def summary(self) -> str:
        if self.status == "reproduced":
            return f"reproduced: {self.identical} of {self.total} output files identical"
        if self.status == "differs":
            return f"not reproduced: {self.identical} of {self.total} output files identical"
        if self.status == "failed" and self.exit_code:
            return (
                f"failed: the script exited with status {self.exit_code} (its output is above; "
                f"what it wrote is in {self.folder})"
            )
        if self.status == "failed":
            return "failed: " + "; ".join(self.differences)
        return self.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "folder": self.folder,
            "commit": self.commit,
            "command": self.command,
            "status": self.status,
            "identical": self.identical,
            "total": self.total,
            "differences": self.differences,
            "exit_code": self.exit_code,
        }


@dataclass
class RerunReport:
    """Every stage rerun, upstream ones first. ``reproduced`` is True when each one was."""

    stages: list[RerunStage]
    dry_run: bool = False

    @property
    def reproduced(self) -> bool:
        return all(s.status == "reproduced" for s in self.stages)

    @property
    def exit_code(self) -> int:
        """0 when every stage reproduced (or, for a dry run, could run), else 1."""
        return 0 if self.dry_run or self.reproduced else 1


def rerun(
    run: PathLike,
    *,
    save_dir: PathLike | None = None,
    upstream: bool = False,
    allow_changed_data: bool = False,
    strict: bool = False,
    dry_run: bool = False,
    in_place: bool = False,
    out: TextIO | None = None,
) -> RerunReport:
    """Reproduce ``run`` from its run.lock: recorded code, config and data; compare outputs.

    Args:
        run: A run folder, its run.lock, or a file inside it (a sweep's task folder too).
        save_dir: Where the rerun writes (default: the sibling ``<run>@rerun-N``, next free N).
        upstream: First rerun every upstream stage the run embedded, each from its own
            receipt, and feed the run their rerun outputs instead of the originals.
        allow_changed_data: Rerun even when data differs from the receipt.
        strict: Refuse when an imported package's version (or Python's) differs.
        dry_run: Print the plan; check out, write and run nothing.
        in_place: Rerun into the run's own folder, in the working tree itself; refused unless
            every file the run used is unchanged (``judge`` names no code reason).
        out: Where the plan, the script's output and the outcome go (default: stdout).

    Returns:
        A :class:`RerunReport`; ``report.exit_code`` is 0 when every stage reproduced.

    Raises:
        LockError: No run.lock, a missing commit (named, with ``naga pull``), no script to run
            (an interactive session's receipt), changed data without ``allow_changed_data``,
            changed packages with ``strict``, or ``in_place`` on changed code.

    Example:
        >>> rerun("results/train").exit_code  # doctest: +SKIP
        0
    """
    stream = out if out is not None else sys.stdout
    lock_file = _lock_file(run)
    if in_place and (upstream or save_dir is not None):
        raise LockError(
            "--in_place reruns one stage into its own folder: drop --upstream and --save_dir, "
            "or drop --in_place.",
            key="in_place",
        )
    lock = load_lock(lock_file)
    home = lock_file.parent
    if in_place:
        _check_code_unchanged(lock_file)
    stages = _upstream_order(lock, home) if upstream else []
    plans = _plans([*stages, (lock, home)], save_dir, in_place)
    refused = [f"{p.label}: {line}" for p in plans for line in p.environment] if strict else []
    if refused:
        raise LockError(
            "packages differ from those the run imported (--strict): "
            + "; ".join(refused)
            + ". Install the recorded versions, or drop --strict.",
            key="strict",
        )
    report = RerunReport([], dry_run=dry_run)
    for plan in plans:
        _say_plan(plan, stream, dry_run)
        if dry_run:
            _dry_data(plan, stream)
            report.stages.append(_stage(plan, "planned"))
            continue
        stage = _execute(plan, allow_changed_data, stream)
        report.stages.append(stage)
        print(f"{plan.label} -> {_shown(plan.folder)}: {stage.summary()}", file=stream)
        for line in stage.differences if stage.status == "differs" else []:
            print(f"  outputs  {line}", file=stream)
        if stage.status == "failed" and plan is not plans[-1]:
            for rest in plans[plans.index(plan) + 1 :]:
                report.stages.append(_stage(rest, "skipped"))
            print("naga: stopped: an upstream stage failed to rerun.", file=stream)
            break
    stream.flush()
    return report


# -- the stages ----------------------------------------------------------------------------


def _lock_file(run: PathLike) -> Path:
    folder = Path(run)
    if folder.is_dir() and not (folder / LOCK_NAME).exists() and (folder / TASKS_NAME).exists():
        tasks = sorted(str(p.parent) for p in folder.glob(f"*/{LOCK_NAME}"))
        raise LockError(
            f"'{os.fspath(run)}' is a sweep: rerun its tasks one at a time, for example "
            f"`naga rerun {tasks[0] if tasks else os.path.join(os.fspath(run), 'TASK')}`.",
            path=os.fspath(run),
            choices=tasks,
        )
    return find_lock(run).resolve()


def _upstream_order(lock: dict[str, Any], home: Path) -> list[tuple[dict[str, Any], Path]]:
    """Every upstream stage the receipt embeds (inferred ones too), dependencies first, each
    with the folder it belongs to. One folder run twice (two receipts) is two stages."""
    order: list[tuple[dict[str, Any], Path]] = []
    seen: set[tuple[Path, Any]] = set()

    def visit(node: dict[str, Any], folder: Path) -> None:
        for key, embedded in _mapping(node.get("prevs")).items():
            if not isinstance(embedded, dict):
                continue
            where = Path(os.path.normpath(key if os.path.isabs(key) else folder / str(key)))
            ident = (where, str(embedded.get("created")))
            if ident in seen:
                continue
            seen.add(ident)
            visit(embedded, where)
            order.append((embedded, where))

    visit(lock, home)
    return order


def _plans(
    stages: list[tuple[dict[str, Any], Path]], save_dir: PathLike | None, in_place: bool
) -> list[Plan]:
    """Plan every stage before any runs: each input is checked before anything is written."""
    plans: list[Plan] = []
    taken: set[Path] = set()
    reruns: dict[tuple[Path, Any], Path] = {}
    for index, (lock, home) in enumerate(stages):
        last = index == len(stages) - 1
        if in_place:
            folder = home
        elif last and save_dir is not None:
            folder = _given_folder(Path(save_dir))
        else:
            folder = rerun_folder(home, taken)
        taken.add(folder)
        feeds: dict[Path, Path] = {}
        for (where, _), new in reruns.items():
            feeds[where] = new  # the latest rerun of a folder, unless the run used another
        for key, embedded in _mapping(lock.get("prevs")).items():
            where = Path(os.path.normpath(key if os.path.isabs(key) else home / str(key)))
            ident = (where, str(_mapping(embedded).get("created")))
            if ident in reruns:
                feeds[where] = reruns[ident]
        plan = plan_stage(lock, home, _shown(home), folder=folder, feeds=feeds, in_place=in_place)
        plan.given_folder = last and save_dir is not None
        plans.append(plan)
        reruns[(home, str(lock.get("created")))] = folder
    return plans


def _given_folder(folder: Path) -> Path:
    target = Path(os.path.abspath(folder))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise LockError(
            f"--save_dir '{os.fspath(folder)}' exists and is not an empty folder: give a new "
            f"folder, so the rerun's outputs are its own.",
            path=os.fspath(folder),
            key="save_dir",
        )
    return target


def _check_code_unchanged(lock_file: Path) -> None:
    from naga.lock._judge import judge

    reasons = [c.reason() for c in judge(lock_file).reasons if c.part == "code"]
    if reasons:
        raise LockError(
            f"{_shown(lock_file.parent)}: --in_place needs the working tree to hold the code the "
            f"run used, and it differs: {', '.join(reasons[:5])}"
            f"{' ...' if len(reasons) > 5 else ''}. Rerun without --in_place (in a worktree of "
            f"the recorded commit), or restore those files.",
            path=str(lock_file.parent),
            key="in_place",
        )


def _stage(plan: Plan, status: str) -> RerunStage:
    return RerunStage(
        plan.label, _shown(plan.folder), plan.sha, _command(plan, Path("<worktree>")), status
    )


# -- saying the plan -----------------------------------------------------------------------


def _say_plan(plan: Plan, out: TextIO, dry_run: bool) -> None:
    kind = "snapshot commit" if plan.snapshot else "commit"
    head = "would rerun" if dry_run else "rerunning"
    print(f"naga: {head} {plan.label}", file=out)
    if plan.in_place:
        code = f"the working tree of {plan.root} (the files the run used are unchanged)"
    else:
        code = f"{kind} {plan.sha} of {plan.root}, in a temporary worktree"
    print(f"  code         {code}", file=out)
    tree = plan.root if plan.in_place else Path("<worktree>")
    print(f"  command      {' '.join(_command(plan, tree))}", file=out)
    print(f"  cwd          {plan.rel_cwd} (from the repository root)", file=out)
    print(f"  folder       {_shown(plan.folder)}", file=out)
    for key, old, new in plan.rewrites:
        print(f"  config       {key}: {old} -> {new}", file=out)
    for line in plan.environment:
        print(f"  warning      environment differs: {line} (the rerun uses today's)", file=out)


def _dry_data(plan: Plan, out: TextIO) -> None:
    for check in plan.data:
        if check.fed:  # read from an upstream's rerun, which does not exist yet
            print(f"  data         {check.name}: {check.note}", file=out)
            continue
        if (
            not plan.in_place
            and check.rel is not None
            and in_commit(plan.root, plan.sha, check.rel)
        ):
            check.note = "in the recorded commit (checked once checked out)"
        else:
            check_data(check, check.path)
        print(f"  data         {check.line()}", file=out)


def _command(plan: Plan, tree: Path) -> list[str]:
    return [sys.executable, str(tree / plan.script), "--config", str(plan.config_file)]


# -- carrying a plan out -------------------------------------------------------------------


def _execute(plan: Plan, allow_changed_data: bool, out: TextIO) -> RerunStage:
    stage = _stage(plan, "failed")
    before = output_stats(plan.folder) if plan.in_place else None
    with ExitStack() as stack:
        tree = plan.root
        if not plan.in_place:
            worktree = stack.enter_context(Worktree(plan.root, plan.sha))
            tree = worktree.path
            link_upstreams(plan, worktree)
            check_worktree_data(plan, worktree)
        else:
            for check in plan.data:
                check_data(check, check.path)
        for check in plan.data:
            print(f"  data         {check.line()}", file=out)
        changed = [c for c in plan.data if not c.ok]
        if changed and not allow_changed_data:
            upstream = any(not c.fed and _in_any(c.path, plan.upstreams) for c in changed)
            hint = ", or --upstream to reproduce the upstream stages first" if upstream else ""
            raise LockError(
                f"{plan.label}: data differs from the receipt: "
                + "; ".join(c.line() for c in changed)
                + f". Restore it, or rerun with --allow_changed_data to use today's data{hint}.",
                path=plan.label,
                key="data",
                choices=[c.name for c in changed],
            )
        _write_config(plan)
        stage.command = _command(plan, tree)
        cwd = tree / plan.rel_cwd
        cwd.mkdir(parents=True, exist_ok=True)
        stage.exit_code = _run(stage.command, cwd, _environ(plan, tree), out)
        new_lock = _new_lock(plan) if stage.exit_code == 0 else None
        if new_lock is not None and not plan.in_place:
            for rel in code_differences(plan.lock, new_lock, tree):
                print(
                    f"  warning      the rerun did not use the recorded {rel} from the worktree "
                    f"(imported from elsewhere?)",
                    file=out,
                )
            relocate(plan.folder, tree, plan.root, _rerun_of(plan))
    if stage.exit_code != 0:
        return stage
    if new_lock is None:
        stage.differences = [f"the script wrote no new {LOCK_NAME} in {_shown(plan.folder)}"]
        return stage
    found = compare_outputs(plan.lock, plan.home, plan.folder, new_lock, before)
    stage.identical, stage.total, stage.differences = (
        found.identical,
        found.total,
        found.differences,
    )
    stage.status = "differs" if found.differences else "reproduced"
    return stage


def _new_lock(plan: Plan) -> dict[str, Any] | None:
    """The run.lock the rerun wrote (None when it wrote none, or left the old one in place)."""
    try:
        lock = load_lock(plan.folder)
    except NagaError:
        return None
    if plan.in_place and lock.get("created") == plan.lock.get("created"):
        return None
    return lock


def _rerun_of(plan: Plan) -> dict[str, Any]:
    return {
        "run": os.path.relpath(plan.home, plan.folder).replace(os.sep, "/"),
        "created": plan.lock.get("created"),
        "commit": plan.sha,
    }


def _in_any(path: Path, folders: list[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(Path(os.path.realpath(f)) in real.parents for f in folders)


def _write_config(plan: Plan) -> None:
    if not plan.in_place:
        try:  # a folder of naga's choosing is new; an empty --save_dir may exist
            plan.folder.mkdir(parents=True, exist_ok=plan.given_folder)
        except FileExistsError as exc:
            raise LockError(
                f"{_shown(plan.folder)} was created since the rerun was planned: run naga rerun "
                f"again (it takes the next free folder), or give --save_dir.",
                path=str(plan.folder),
            ) from exc
        if any(plan.folder.iterdir()):
            raise LockError(
                f"{_shown(plan.folder)} filled up since the rerun was planned: run naga rerun "
                f"again, or give --save_dir.",
                path=str(plan.folder),
            )
    header = (
        f"# naga rerun of {plan.home} (run.lock created {plan.lock.get('created')})\n"
        f"# code: {'snapshot commit' if plan.snapshot else 'commit'} {plan.sha}\n"
    )
    atomic_write_text(plan.config_file, header + dump_yaml(plan.config))


def _environ(plan: Plan, tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(tree / p) for p in plan.python_paths if (tree / p).is_dir()]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str], out: TextIO) -> int:
    """Run the script, its output (stdout and stderr) passed on to ``out`` line by line."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    try:
        assert proc.stdout is not None  # piped above
        for line in proc.stdout:
            out.write(line)
            out.flush()
        return proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: the script goes with us
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
