"""Capture arguments that are folders: the capture files inside, in capture order.

Long captures arrive as folders of rotated files (`tcpdump -C` or `-G`,
dumpcap's ring buffer), often a day per sub-folder. A folder argument stands
for every capture file below it, ordered as they were written: names are
compared with their numbers as numbers, so `dump2` comes before `dump10`.
Files that are not captures (notes, checksums, Zeek logs) are left out by
their first bytes, never by their extension.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cranewatch.errors import CranewatchError
from cranewatch.sources.open import sniff_format

_DIGITS = re.compile(r"(\d+)")


@dataclass
class Expanded:
    """The capture files to read, and what each folder gave."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per folder with skipped files


def expand(paths: Sequence[Path], outputs: Sequence[Path] = ()) -> Expanded:
    """Files as given, folders replaced by their capture files.

    Files inside `outputs` (this run's evidence folder, whose pcaps a second
    run would otherwise read as captures) are not taken from folders. Raises
    CranewatchError for a path that does not exist and for a folder without
    any capture file.
    """
    out = Expanded()
    own = [Path(o).resolve() for o in outputs]
    for path in map(Path, paths):
        if path.is_file():
            out.files.append(path)
        elif path.is_dir():
            earlier = _evidence_folders(path)
            found, skipped = _captures_in(path, own + earlier)
            out.notes += [
                f"{d}: evidence captures of an earlier cranewatch run (its index.csv) left out;"
                " give that folder itself to read them"
                for d in earlier
            ]
            if not found:
                what = _files(len(skipped), "other ") if skipped else "the folder is empty"
                raise CranewatchError(
                    f"no pcap or pcapng file in this folder ({what})", path=str(path)
                )
            out.files += found
            if skipped:
                out.notes.append(
                    f"{path}: {_files(len(found), 'capture ')} read,"
                    f" {_files(len(skipped), 'other ')} left out ({_names(skipped, path)})"
                )
        elif path.exists():  # a pipe (/dev/stdin, <(...), a FIFO) or a device
            raise CranewatchError(
                "a pipe or device, not a file: save the stream to a file first"
                " (tcpdump -w FILE; cranewatch reads a capture more than once and in ranges)",
                path=str(path),
            )
        else:
            raise CranewatchError("no such capture file or folder", path=str(path))
    out.files = _once(out.files, out.notes)
    return out


def _once(files: list[Path], notes: list[str]) -> list[Path]:
    """Each file once, at its first place: a file named twice (or also inside a folder given)
    would count its packets twice and judge its flows as if seen twice as often."""
    seen: dict[Path, Path] = {}
    out = []
    for path in files:
        key = path.resolve()
        if key in seen:
            notes.append(f"{path}: given more than once; read once")
            continue
        seen[key] = path
        out.append(path)
    return out


def _files(count: int, kind: str = "") -> str:
    return f"{count} {kind}file{'' if count == 1 else 's'}"


def _names(paths: list[Path], folder: Path, most: int = 3) -> str:
    """The first few of `paths`, relative to `folder`: an auditor can see what was not read."""
    shown = ", ".join(p.relative_to(folder).as_posix() for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


# The first line of the index.csv that report/evidence.py writes beside its captures.
EVIDENCE_INDEX = ("index.csv", "id,kind,file,packets,first_ts,last_ts")


def _evidence_folders(folder: Path) -> list[Path]:
    """Folders below `folder` holding an earlier run's evidence: its packets again, not new ones."""
    name, header = EVIDENCE_INDEX
    out = []
    for index in sorted(folder.rglob(name)):
        if index.parent == folder or _hidden(index, folder):
            continue
        try:
            with open(index, encoding="utf-8", errors="replace") as fh:
                first = fh.readline().strip()
        except OSError:
            continue
        if first == header:
            out.append(index.parent.resolve())
    return out


def _captures_in(folder: Path, own: list[Path]) -> tuple[list[Path], list[Path]]:
    """Capture files below `folder` in natural order, and the other files."""
    found: list[Path] = []
    skipped: list[Path] = []
    files = (
        p
        for p in folder.rglob("*")
        if p.is_file() and not _hidden(p, folder) and not _inside(p, own)
    )
    for path in sorted(files, key=lambda p: _natural(p.relative_to(folder))):
        (found if _is_capture(path) else skipped).append(path)
    return found, skipped


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _inside(path: Path, folders: list[Path]) -> bool:
    return bool(folders) and any(path.resolve().is_relative_to(f) for f in folders)


def _natural(relative: Path) -> list[tuple[int, int | str]]:
    """Sort key: digit runs compare as numbers, the rest as text, part by part."""
    key: list[tuple[int, int | str]] = []
    for part in relative.parts:
        for k, piece in enumerate(_DIGITS.split(part)):
            key.append((1, int(piece)) if k % 2 else (0, piece))
        key.append((0, "/"))
    return key


def _is_capture(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == b"\x1f\x8b":
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as inner:
                    head = inner.read(4)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        return False
    return sniff_format(head) is not None
