"""User-facing errors: one clear line each, and a distinct exit code per kind."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProtonetError(Exception):
    """Base of every error a user can cause; the CLI prints it as one line."""

    exit_code = 1

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 layer: str | None = None, hint: str | None = None) -> None:
        self.message, self.file, self.line, self.layer, self.hint = message, file, line, layer, hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        layer = f"layer '{self.layer}': " if self.layer else ""
        hint = f"; {self.hint}" if self.hint else ""
        return " ".join(f"{where}{layer}{self.message}{hint}".splitlines())  # one line, whatever it quotes

    def located(self, *, file: str | None = None, line: int | None = None,
                layer: str | None = None) -> ProtonetError:
        """The same error with the missing parts of its location filled in."""
        self.file = self.file or file
        self.line = self.line or line
        self.layer = self.layer or layer
        self.args = (self.render(),)
        return self


class ConfigError(ProtonetError):
    """A net or solver definition that is malformed or inconsistent."""

    exit_code = 2


class DataError(ProtonetError):
    """A dataset that is missing, corrupt or holds values the net cannot take."""

    exit_code = 3


class WeightsError(ProtonetError):
    """A weights or solver-state file that is corrupt or does not fit the net."""

    exit_code = 4


class NumericalError(ProtonetError):
    """Training produced a non-finite value."""

    exit_code = 5


class StorageError(ProtonetError):
    """A file could not be read or written (permissions, full disk, lock held)."""

    exit_code = 6


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str | None:
    """A hint naming the closest valid spellings of `word`, or None."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
