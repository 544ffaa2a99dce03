"""``naga rerun RUN``: reproduce a run from its run.lock and compare the outputs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from naga._flags import flag_names

__all__ = ["add_rerun_parser", "rerun_command"]

AddParser = Callable[[str, str, str], argparse.ArgumentParser]


def add_rerun_parser(add: AddParser) -> None:
    """Declare ``naga rerun`` with ``add(name, help, example)`` of the naga parser."""
    rerun = add(
        "rerun",
        "reproduce a run from its run.lock (recorded code in a temporary worktree, recorded "
        "config and data) into a new folder, and compare its outputs with the recorded ones",
        "naga rerun results/train --upstream",
    )
    rerun.add_argument("run", metavar="RUN", help="a run folder (or its run.lock)")
    rerun.add_argument(
        *flag_names("save_dir"),
        metavar="DIR",
        help="where the rerun writes (default: the sibling RUN@rerun-N, next free N)",
    )
    rerun.add_argument(
        "--upstream",
        action="store_true",
        help="first rerun the upstream stages, each from its own receipt, and feed the run "
        "their rerun outputs",
    )
    rerun.add_argument(
        *flag_names("allow_changed_data"),
        action="store_true",
        help="rerun even when data differs from the receipt (with today's data)",
    )
    rerun.add_argument(
        "--strict",
        action="store_true",
        help="refuse when a package the run imported (or Python) has another version today",
    )
    rerun.add_argument(
        *flag_names("dry_run"),
        action="store_true",
        help="print the plan (commit, command, folder, data checks); do nothing",
    )
    rerun.add_argument(
        *flag_names("in_place"),
        action="store_true",
        help="rerun into the run's own folder, in the working tree, when it holds the code "
        "the run used",
    )


def rerun_command(args: Any) -> int:
    """Run ``naga rerun``: 0 reproduced (or a dry run), 1 outputs differ or the script failed."""
    from naga.lock import rerun

    try:
        report = rerun(
            args.run,
            save_dir=args.save_dir,
            upstream=args.upstream,
            allow_changed_data=args.allow_changed_data,
            strict=args.strict,
            dry_run=args.dry_run,
            in_place=args.in_place,
            out=sys.stderr if args.json else sys.stdout,
        )
    except KeyboardInterrupt:  # the script was stopped with us, the worktree removed
        print(
            "naga: rerun interrupted: the worktree is removed; what the script wrote stays.",
            file=sys.stderr,
        )
        return 130
    if args.json:
        print(
            json.dumps(
                {
                    "reproduced": report.reproduced,
                    "dry_run": report.dry_run,
                    "stages": [stage.as_dict() for stage in report.stages],
                },
                indent=2,
            )
        )
    return report.exit_code
