"""Shared fixtures. Each part of naga keeps its own fixtures in its test modules unless shared."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(autouse=True, scope="session")
def _isolated_naga_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep naga's caches (hash stat cache and the like) out of the user's home during tests."""
    os.environ["NAGA_CACHE_DIR"] = str(tmp_path_factory.mktemp("naga-cache"))


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit, isolated from the user's git config."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "Test")
    (repo / "README.md").write_text("test repo\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "initial")
    return repo
