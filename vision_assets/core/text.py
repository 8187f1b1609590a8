"""Names as a terminal may show them: control and bidirectional-override characters escaped.

A file name is data someone else chose. Echoed raw, a U+202E RIGHT-TO-LEFT OVERRIDE makes `evil_gpj.exe` read
as `evil_exe.jpg`, and an ESC starts a terminal control sequence. Every name the command line prints goes
through `printable` (cli/main.py wraps stdout and stderr with it), so no command can forget it."""

from __future__ import annotations

import re
import unicodedata

# Bidirectional controls (embeddings, overrides, isolates, marks) and the rest of Unicode's invisible format
# characters, but the joiners that emoji and several scripts need to render correctly.
_JOINERS = frozenset({"\u200c", "\u200d"})


def _needs_escape(char: str, keep: str) -> bool:
    if char in keep or char in _JOINERS:
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


_CANDIDATES = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
                         r"\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\U000110bd\U0001d173-\U0001d17a"
                         r"\U000e0001-\U000e007f]")


def printable(text: str, keep: str = "") -> str:
    """text with each control, bidi or invisible format character written as its escape (`\\u202e`, `\\x1b`);
    characters in `keep` (e.g. newline for whole lines of output) stay as they are."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if not _needs_escape(char, keep):
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    return _CANDIDATES.sub(escape, text)


# Select Graphic Rendition (colour) sequences: what coloured log lines on stderr (Dagster's) are made of.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class EscapingStream:
    """A text stream that writes what it is given through `printable`, keeping newlines, tabs and carriage
    returns (progress bars), and with allow_colour the colour sequences of coloured log lines (stderr); every
    other control sequence (cursor moves, titles, links) and bidi override is escaped."""

    def __init__(self, stream, allow_colour: bool = False):
        self._stream = stream
        self._allow_colour = allow_colour

    def write(self, text: str) -> int:
        if self._allow_colour and "\x1b" in text:
            parts, at = [], 0
            for match in _COLOUR.finditer(text):
                parts += [printable(text[at:match.start()], keep="\n\t\r"), match.group()]
                at = match.end()
            self._stream.write("".join(parts) + printable(text[at:], keep="\n\t\r"))
        else:
            self._stream.write(printable(text, keep="\n\t\r"))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
