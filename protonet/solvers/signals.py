"""What SIGINT, SIGHUP and SIGTERM do during training: snapshot, stop or nothing.

Handlers only set a flag; the solver polls it once per iteration (after the update) and before
each test batch, as Caffe does. A stop always ends with a snapshot (unless one was just written),
so Ctrl-C never loses progress; a second Ctrl-C while a stop is pending interrupts at once.
Handlers are installed only inside `with SignalHandler(...)`, and the old ones come back after.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from ..errors import ConfigError, did_you_mean

ACTIONS = ("snapshot", "stop", "none")
SNAPSHOT, STOP, NONE = ACTIONS


class SignalHandler:
    """Maps signals to actions; a context manager that installs and later restores the handlers."""

    def __init__(self, sigint: str = STOP, sighup: str = SNAPSHOT, sigterm: str = STOP) -> None:
        self.actions: dict[int, str] = {}
        for name, action in (("SIGINT", sigint), ("SIGHUP", sighup), ("SIGTERM", sigterm)):
            if action not in ACTIONS:
                raise ConfigError(f"unknown {name.lower()} effect '{action}'",
                                  hint=did_you_mean(action, ACTIONS) or f"use one of {', '.join(ACTIONS)}")
            number = getattr(signal, name, None)
            if number is not None:  # SIGHUP does not exist on Windows
                self.actions[number] = action
        self._pending: set[str] = set()
        self.stopping = False  # a stop was asked for: a second SIGINT interrupts at once
        self._old: dict[int, object] = {}

    def __enter__(self) -> SignalHandler:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        for number in self.actions:
            self._old[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for number, old in self._old.items():
            signal.signal(number, old)
        self._old.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if number == signal.SIGINT and self.stopping:
            raise KeyboardInterrupt
        self.request(self.actions[number])

    def request(self, action: str) -> None:
        """Ask for an action as a signal would (for callers that are not signals)."""
        if action != NONE:
            self._pending.add(action)
        self.stopping = self.stopping or action == STOP

    def poll(self) -> str:
        """The pending action, cleared: 'stop' before 'snapshot' (a stop snapshots anyway), else 'none'."""
        pending, self._pending = self._pending, set()
        return STOP if STOP in pending else SNAPSHOT if SNAPSHOT in pending else NONE
