"""The receipt: run.lock writing and reading, git state, data hashing, environment."""

from naga.lock._environment import environment_state, installed_packages
from naga.lock._format import LOCK_VERSION, find_lock, load_lock
from naga.lock._git import changed_paths, git, git_state
from naga.lock._hashing import ALGORITHM, changed_files, dir_manifest, hash_file, hash_path
from naga.lock._judge import Change, Verdict, judge, judge_many
from naga.lock._runlock import runlock
from naga.lock._snapshots import (
    NAGA_REFSPEC,
    delete_tag,
    gc_snapshots,
    list_tags,
    pull_snapshots,
    push_snapshots,
    tag_run,
)

__all__ = [
    "ALGORITHM",
    "Change",
    "LOCK_VERSION",
    "NAGA_REFSPEC",
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
    "runlock",
    "tag_run",
]
