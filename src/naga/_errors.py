"""The exceptions naga raises for user mistakes, and the one place they are rendered.

Every user mistake is a :class:`NagaError`; anything else that propagates out of naga is a bug
or an error of the user's own code, and is never wrapped or rewritten::

    NagaError                 base: a sentence naming the input, what was expected, and the fix
    ├── ConfigError           config class, config file, experiment, override or flag
    ├── LockError             run.lock: repos, data, previous stages, reading a lock back
    │   └── GitError          a git command failed (git's own stderr is kept in the message)
    ├── TrackingError         MLflow: unreachable server, store problems
    └── TaskError             task sources, launch options, backends

Each error carries its context as attributes (``path``, ``key``, ``value``, ``choices``,
``line``), as click's ``BadParameter`` does, so callers need not parse the message. The original
exception stays reachable as ``__cause__``.

Only a command-line boundary (``@clicfg`` run as a script, the ``naga`` command) renders a
``NagaError``, through :func:`report`: ``<prog>: error: <message>`` on stderr, exit status
``exit_code`` (2).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, NoReturn


__all__ = [
    "ConfigError",
    "GitError",
    "LockError",
    "NagaError",
    "TaskError",
    "TrackingError",
    "did_you_mean",
    "exit_with_error",
    "render",
    "report",
    "require",
]

#: The name users install naga under (PyPI's ``naga`` is an unrelated project).
DISTRIBUTION = "naga-runs"


class NagaError(Exception):
    """A user mistake, with a message that names the input and the fix.

    Attributes:
        message: The whole sentence, as rendered after ``<prog>: error:``.
        path: The file or folder at fault, when there is one.
        key: The config key (dotted) at fault, when there is one.
        value: The value at fault, when there is one.
        choices: The valid choices, when there is a fixed set.
        line: The 1-based line in ``path``, when known.
        exit_code: The exit status a command line uses for this error (2: usage or input).

    Example:
        >>> error = NagaError("-o parm=3: no key 'parm'.", key="parm", choices=["param"])
        >>> (str(error), error.key, error.choices)
        ("-o parm=3: no key 'parm'.", 'parm', ['param'])
    """

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        value: Any = None,
        choices: Sequence[str] | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.key = key
        self.value = value
        self.choices = list(choices) if choices is not None else None
        self.line = line

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (task workers): keep the attributes through pickle.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[NagaError], message: str, state: dict[str, Any]) -> NagaError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigError(NagaError):
    """A config class, config file, experiment, override or command-line flag is wrong."""


class LockError(NagaError):
    """A run.lock cannot be written or read: bad repo, data path, previous stage or file."""


class GitError(LockError):
    """A git command failed; the message ends with git's own stderr.

    Attributes:
        command: The git arguments that failed.
        stderr: What git printed.
    """

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        stderr: str = "",
        path: str | None = None,
    ) -> None:
        detail = stderr.strip()
        full = f"{message} (git said: {detail})" if detail else message
        super().__init__(full, path=path)
        self.command = list(command)
        self.stderr = stderr


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
    except ImportError as exc:
        top = module.split(".")[0]
        raise error(
            f'{feature} needs {top}, which is not installed here: pip install "{DISTRIBUTION}[{extra}]" '
            f"(or pixi add {top})."
        ) from exc


def render(error: NagaError, prog: str = "naga") -> str:
    """The one rendering of a user mistake: ``<prog>: error: <message>``.

    Example:
        >>> render(NagaError("no run.lock in 'x'."), prog="naga")
        "naga: error: no run.lock in 'x'."
    """
    return f"{prog}: error: {error}"


def report(error: NagaError, prog: str = "naga") -> int:
    """Print :func:`render` of ``error`` to stderr and return its exit status."""
    print(render(error, prog), file=sys.stderr)
    sys.stderr.flush()
    return error.exit_code


def exit_with_error(error: NagaError, prog: str = "naga") -> NoReturn:
    """:func:`report` ``error`` and exit with its status (for ``@clicfg`` scripts).

    Used only at command-line boundaries; library calls let the exception propagate.
    """
    raise SystemExit(report(error, prog)) from None
