"""The receipt: run.lock writing and reading, git state, data hashing, environment."""

from naga.lock._format import LOCK_NAME, LOCK_VERSION, find_lock, load_lock

__all__ = ["LOCK_NAME", "LOCK_VERSION", "find_lock", "load_lock"]
