"""The receipt: run.lock writing and reading, git state, data hashing, environment, judgement.

Each name is imported on first use, so a command that needs one part (``naga status`` needs the
judgement, not snapshot pruning) does not pay for the others' imports.
"""

from __future__ import annotations

from naga._lazy import lazy_exports as _lazy_exports

TYPE_CHECKING = False

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "ALGORITHM": "_hashing",
    "Change": "_judge",
    "LOCK_VERSION": "_format",
    "NAGA_REFSPEC": "_remote",
    "RerunReport": "_rerun",
    "RerunStage": "_rerun",
    "Verdict": "_judge",
    "changed_files": "_hashing",
    "changed_paths": "_git",
    "delete_tag": "_tags",
    "dir_manifest": "_hashing",
    "environment_state": "_environment",
    "find_lock": "_format",
    "gc_snapshots": "_gc",
    "git": "_git",
    "git_state": "_git",
    "hash_file": "_hashing",
    "hash_path": "_hashing",
    "installed_packages": "_environment",
    "judge": "_judge",
    "judge_many": "_judge",
    "list_tags": "_tags",
    "load_lock": "_format",
    "pull_snapshots": "_remote",
    "push_snapshots": "_remote",
    "rerun": "_rerun",
    "runlock": "_runlock",
    "tag_run": "_tags",
}

__all__ = [
    "ALGORITHM",
    "Change",
    "LOCK_VERSION",
    "NAGA_REFSPEC",
    "RerunReport",
    "RerunStage",
    "Verdict",
    "changed_files",
    "changed_paths",
    "delete_tag",
    "dir_manifest",
    "environment_state",
    "find_lock",
    "gc_snapshots",
    "git",
    "git_state",
    "hash_file",
    "hash_path",
    "installed_packages",
    "judge",
    "judge_many",
    "list_tags",
    "load_lock",
    "pull_snapshots",
    "push_snapshots",
    "rerun",
    "runlock",
    "tag_run",
]

if TYPE_CHECKING:
    from naga.lock._environment import environment_state as environment_state
    from naga.lock._environment import installed_packages as installed_packages
    from naga.lock._format import LOCK_VERSION as LOCK_VERSION
    from naga.lock._format import find_lock as find_lock
    from naga.lock._format import load_lock as load_lock
    from naga.lock._gc import gc_snapshots as gc_snapshots
    from naga.lock._git import changed_paths as changed_paths
    from naga.lock._git import git as git
    from naga.lock._git import git_state as git_state
    from naga.lock._hashing import ALGORITHM as ALGORITHM
    from naga.lock._hashing import changed_files as changed_files
    from naga.lock._hashing import dir_manifest as dir_manifest
    from naga.lock._hashing import hash_file as hash_file
    from naga.lock._hashing import hash_path as hash_path
    from naga.lock._judge import Change as Change
    from naga.lock._judge import Verdict as Verdict
    from naga.lock._judge import judge as judge
    from naga.lock._judge import judge_many as judge_many
    from naga.lock._remote import NAGA_REFSPEC as NAGA_REFSPEC
    from naga.lock._remote import pull_snapshots as pull_snapshots
    from naga.lock._remote import push_snapshots as push_snapshots
    from naga.lock._rerun import RerunReport as RerunReport
    from naga.lock._rerun import RerunStage as RerunStage
    from naga.lock._rerun import rerun as rerun
    from naga.lock._runlock import runlock as runlock
    from naga.lock._tags import delete_tag as delete_tag
    from naga.lock._tags import list_tags as list_tags
    from naga.lock._tags import tag_run as tag_run


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
