"""What stops a sweep: SIGINT (Ctrl-C), SIGTERM (kill, Slurm, systemd) or SIGHUP (the terminal
closed), sent to the sweep's own process.

While a :class:`StopSignals` is active, the first of these signals raises ``KeyboardInterrupt``
in the main thread (where the backend waits) and is remembered in ``received``; later ones are
ignored while the sweep stops its tasks, and once :meth:`StopSignals.hold` was called (the sweep
is saving its final state) a signal is only remembered. A signal the process ignores
(``nohup``, a background job started with SIGINT ignored) or handles itself stays as it was.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["StopSignals"]

_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopSignals:
    """A context manager: stop signals raise ``KeyboardInterrupt`` once and are remembered.

    Attributes:
        received: The signal that stopped the sweep, or None.

    Example:
        >>> with StopSignals() as stop:
        ...     pass
        >>> stop.received is None
        True
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[int, Any] = {}
        self._held = False

    @property
    def exit_code(self) -> int:
        """The shell's status for the signal that stopped the sweep: 128 + its number."""
        return 128 + int(self.received or signal.SIGINT)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers; Python's defaults stay
        for signum in _SIGNALS:
            current = signal.getsignal(signum)
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if current is default:
                self._previous[signum] = current
                signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def hold(self) -> None:
        """From now on a stop signal is remembered, never raised."""
        self._held = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            if not self._held:
                raise KeyboardInterrupt
