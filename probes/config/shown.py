"""How a configuration error shows what it quotes (a key, a value, a file name): on one line,
control characters escaped as Python would write them — a key holding a newline or a carriage
return must not split or overwrite the one line an operator reads."""

from __future__ import annotations


def printable(text: str) -> str:
    """The text with every non-printable character escaped (\\n, \\r, \\x00, \\u2028...)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineError(Exception):
    """An error whose message is always one printable line (what the operator sees)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))
