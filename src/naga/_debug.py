"""``unsafe_debug``: post-mortem debugging with the failing frame's locals at hand.

Off unless ``NAGA_DEBUG`` is 1/true/yes when the function is called; off, the function runs
exactly as undecorated. On, when it raises, the locals of the user's frames are collected in a
dict ``ctx`` (innermost frame first in priority, every user frame under ``ctx['__frames__']``)
and put into the interactive namespace (IPython's ``user_ns`` or ``__main__``). With a terminal
a post-mortem debugger opens at the innermost user frame; without one (CI, pipes, task workers)
one line says where it failed. Either way the same exception object is re-raised, untouched.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["unsafe_debug"]

#: Any callable, a ``@clicfg`` function included: the decorator returns the very same type, so a
#: type checker keeps every signature (and every overload) of what it wraps.
F = TypeVar("F", bound=Callable[..., Any])
PROMPT = "IPython post-mortem debugger> "
_NAGA_DIR = os.path.dirname(os.path.abspath(__file__))
_TRUTHY = {"1", "true", "yes", "on"}


def unsafe_debug(func: F) -> F:
    """Open a post-mortem debugger with the failing frame's locals when ``func`` raises.

    Active only when the environment variable ``NAGA_DEBUG`` is 1, true or yes at call time.

    Example:
        >>> @unsafe_debug
        ... @clicfg(config_class=Config)
        ... def main(cfg: Config):
        ...     a = 0
        ...     b = 1 / a  # NAGA_DEBUG=1: the debugger opens here; `a` prints 0
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if os.environ.get("NAGA_DEBUG", "").strip().lower() not in _TRUTHY:
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            _post_mortem(exc)
            raise

    return cast("F", wrapper)


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<frozen") or filename.startswith("<__array_function__"):
        return False
    if filename.startswith("<"):
        return True  # <stdin>, <string>, IPython cells
    path = os.path.abspath(filename)
    if path.startswith(_NAGA_DIR + os.sep) or "site-packages" in path or "dist-packages" in path:
        return False
    for key in ("stdlib", "platstdlib"):
        root = sysconfig.get_paths().get(key)
        if root and path.startswith(root + os.sep):
            return False
    return True


def _user_frames(tb: types.TracebackType | None) -> list[types.TracebackType]:
    found = []
    while tb is not None:
        if _is_user_file(tb.tb_frame.f_code.co_filename):
            found.append(tb)
        tb = tb.tb_next
    return found


def _post_mortem(exc: BaseException) -> None:
    frames = _user_frames(exc.__traceback__)
    # A NagaError raised by naga before the user's code ran (a bad command line) has no user
    # frame: it stays a clean message.
    if not frames:
        return
    ctx: dict[str, Any] = {}
    described = []
    for tb in frames:
        code = tb.tb_frame.f_code
        where = f"{code.co_filename}:{tb.tb_lineno} in {code.co_name}"
        described.append((where, dict(tb.tb_frame.f_locals)))
        ctx.update(tb.tb_frame.f_locals)
    ctx["__frames__"] = described
    ctx["__exception__"] = exc
    _publish(ctx)
    where = described[-1][0]
    if _has_terminal():
        print(f"naga: {type(exc).__name__}: {exc} at {where}", file=sys.stderr)
        print(
            "Dropping into an interactive shell.\n"
            "The current context is available in the `ctx` dictionary.\n"
            "For example, access the config with `ctx['cfg']`.",
            file=sys.stderr,
        )
        _debug(frames[-1], exc)
    else:
        print(
            f"naga: unsafe_debug: {where}: {type(exc).__name__}: {exc}; locals in ctx",
            file=sys.stderr,
        )


def _has_terminal() -> bool:
    if os.environ.get("NAGA_WORKER") == "1":
        return False
    kernel = getattr(_ipython(), "kernel", None)
    if kernel is not None:  # a Jupyter kernel: input goes through the front end, when it allows
        return bool(getattr(kernel, "_allow_stdin", False))
    try:
        return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    getter = getattr(module, "get_ipython", None)
    return getter() if getter is not None else None


def _publish(ctx: dict[str, Any]) -> None:
    shell = _ipython()
    if shell is not None:
        shell.user_ns["ctx"] = ctx
    main = sys.modules.get("__main__")
    if main is not None:
        main.__dict__["ctx"] = ctx


def _debugger_base() -> type:
    try:
        from IPython.core.debugger import Pdb as IPythonPdb

        return IPythonPdb
    except ImportError:
        import pdb

        return pdb.Pdb


def _debug(target: types.TracebackType, exc: BaseException) -> None:
    import builtins

    saved_builtins = dict(vars(builtins))
    saved_prompts = {name: getattr(sys, name) for name in ("ps1", "ps2") if hasattr(sys, name)}
    saved_hooks = sys.displayhook, sys.excepthook
    base = _debugger_base()

    class PostMortem(base):  # type: ignore[misc, valid-type]
        """pdb++-style: a line that is exactly a local's name prints it."""

        def setup(self, f: Any, tb: Any) -> Any:
            result = super().setup(f, tb)
            for index, (frame, _) in enumerate(self.stack):
                if frame is target.tb_frame:
                    self.curindex = index
                    self.curframe = frame
                    self.curframe_locals = frame.f_locals
            return result

        def precmd(self, line: str) -> str:
            name = line.strip()
            if name.isidentifier() and name in getattr(self, "curframe_locals", {}):
                return f"p {name}"
            return str(super().precmd(line))

    debugger = PostMortem()
    debugger.prompt = PROMPT
    debugger.reset()
    try:
        debugger.interaction(None, exc.__traceback__)
    finally:
        for name in set(vars(builtins)) - set(saved_builtins):
            delattr(builtins, name)
        for name in ("ps1", "ps2"):
            if name in saved_prompts:
                setattr(sys, name, saved_prompts[name])
            elif hasattr(sys, name):
                delattr(sys, name)  # the interpreter sets its own default again
        sys.displayhook, sys.excepthook = saved_hooks
