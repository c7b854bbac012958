"""Errors a user can meet, each mapped to one line and an exit code.

Every error the CLI reports is one of these: it carries the file, the position
when known, and what is wrong, so that the CLI prints one line and never a
traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CranewatchError(Exception):
    """A problem with the user's input, reported as `file:line: message`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.message}"


class NotACaptureError(CranewatchError):
    """The file is neither pcap nor pcapng (nor a gzip of one)."""


class SiteFileError(CranewatchError):
    """The site file breaks a rule of CONTRACT.md section 1."""
