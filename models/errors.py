"""User-facing input errors.

Every problem with a file a user wrote (a scenario, a manifest, a timeline) becomes an
:class:`InputError` that names the file, the field path inside it and how to fix it. The CLI prints
it as one message and exits with code 2; nothing below the CLI prints tracebacks for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """A problem with user input: file, field path, what is wrong and how to fix it."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 fix: str | None = None, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.file = file
        self.field = field
        self.fix = fix
        self.line = line
        self.column = column
        super().__init__(self.render())

    def render(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest known word to ``word``, if any is close enough to suggest."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return matches[0] if matches else None
