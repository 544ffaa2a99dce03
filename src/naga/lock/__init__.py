"""The receipt: run.lock writing and reading, git state, data hashing, environment."""

from naga.lock._environment import environment_state, installed_packages
from naga.lock._format import LOCK_VERSION, find_lock, load_lock
from naga.lock._git import changed_paths, git, git_state
from naga.lock._hashing import ALGORITHM, changed_files, dir_manifest, hash_file, hash_path
from naga.lock._judge import Change, Verdict, judge
from naga.lock._runlock import runlock

__all__ = [
    "ALGORITHM",
    "Change",
    "LOCK_VERSION",
    "Verdict",
    "changed_files",
    "changed_paths",
    "dir_manifest",
    "environment_state",
    "find_lock",
    "git",
    "git_state",
    "hash_file",
    "hash_path",
    "installed_packages",
    "judge",
    "load_lock",
    "runlock",
]
