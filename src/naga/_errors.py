"""The exceptions naga raises for user mistakes.

Every user mistake is a :class:`NagaError`; anything else that propagates out of naga is a bug
or an error of the user's own code, and is never wrapped or rewritten::

    NagaError                 base: a sentence naming the input, what was expected, and the fix
    ├── ConfigError           config class, config file, experiment, override or flag
    ├── LockError             run.lock: repos, data, previous stages, reading a lock back
    ├── TrackingError         MLflow: unreachable server, store problems
    └── TaskError             task sources, launch options, backends

Only a command-line boundary (``@clicfg`` run as a script, the ``naga`` command) turns a
``NagaError`` into ``<prog>: error: <message>`` on stderr and exit status ``exit_code`` (2).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NoReturn


__all__ = [
    "ConfigError",
    "LockError",
    "NagaError",
    "TaskError",
    "TrackingError",
    "did_you_mean",
    "exit_with_error",
    "require",
]


class NagaError(Exception):
    """A user mistake, with a message that names the input and the fix.

    Attributes:
        exit_code: The exit status a command line uses for this error (2: usage or input).
    """

    exit_code: int = 2


class ConfigError(NagaError):
    """A config class, config file, experiment, override or command-line flag is wrong."""


class LockError(NagaError):
    """A run.lock cannot be written or read: bad repo, data path, previous stage or file."""


class TrackingError(NagaError):
    """MLflow cannot be used as asked: unreachable server, refused store, bad experiment."""


class TaskError(NagaError):
    """A task source or launch option is wrong."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close.

    Example:
        >>> did_you_mean("parm", ["param", "save_dir"])
        " Did you mean 'param'?"
    """
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def require(module: str, extra: str, feature: str, error: type[NagaError]) -> None:
    """Check that an optional dependency imports; raise ``error`` naming the extra otherwise.

    Example:
        >>> require("json", "all", "this example", NagaError)
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise error(
            f'{feature} needs {top}, which is not installed here: pip install "naga[{extra}]" '
            f"(or pixi add {top})."
        ) from None


def exit_with_error(error: NagaError, prog: str = "naga") -> NoReturn:
    """Print ``<prog>: error: <message>`` to stderr and exit with ``error.exit_code``.

    Used only at command-line boundaries; library calls let the exception propagate.
    """
    print(f"{prog}: error: {error}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(error.exit_code)
