"""Write report files whole or not at all.

A SIEM import or a script polling the findings file must never read half a
document, and a run interrupted with Ctrl-C must not leave a truncated file
(or litter the folder with temp files). So output goes to a temp file in the
same folder (same file system, so the final rename is atomic) and is renamed
over the target only once complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_MODES = {"w": "w", "wt": "w", "wb": "wb"}


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _final_mode(target: Path) -> int:
    """mkstemp makes the file 0600: keep the replaced file's mode, else what open() would give."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file next to `path`; on clean exit it replaces `path`.

    On any exception, KeyboardInterrupt included, the temp file is removed and
    `path` is left as it was. Text mode writes UTF-8.
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_open mode must be one of {sorted(_MODES)}, not {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:  # its file name is the temp file's
        raise _about(exc, target, exc.filename) from exc
    try:
        if _MODES[mode] == "wb":
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _about(exc, target, tmp) from exc
        raise


def _about(exc: OSError, target: Path, tmp: str | None) -> OSError:
    """A failed write as the user sees it: their file could not be written.

    Why: the temp file's name (".x.html.5c0_h656.tmp") means nothing to
    them, and a full disk raises with no file name at all. An error about
    another file (the body reading a capture) is left as it was.
    """
    if exc.filename not in (None, tmp, str(target.parent)):
        return exc
    return OSError(exc.errno, f"cannot write it ({exc.strerror or exc})", str(target))


def make_folder(path: str | os.PathLike[str]) -> Path:
    """Create an output folder (and its parents) if needed; errors name it and say why.

    Why: `mkdir` on a path that is a file says only "File exists", which
    reads as if all were well.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OSError(exc.errno, "exists and is not a folder", str(folder)) from exc
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot make this folder ({exc.strerror or exc})", str(folder)
        ) from exc
    return folder


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write `data` (text is UTF-8) to `path` atomically."""
    mode = "wb" if isinstance(data, bytes | bytearray | memoryview) else "w"
    with atomic_open(path, mode) as fh:
        fh.write(data)
