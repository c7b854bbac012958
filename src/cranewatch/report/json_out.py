"""The findings file (`--json PATH`, CONTRACT.md section 2) and its JSON Schema.

The document is what scripts and SIEM imports read, so it is built only from
plain JSON types (numpy scalars from the columnar stages are converted here)
and can be checked against `findings-v1.schema.json` shipped next to this
module.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cranewatch import __version__
from cranewatch.inventory.coverage import declared_not_seen
from cranewatch.report.atomic import atomic_open

if TYPE_CHECKING:
    import jsonschema

SCHEMA_ID = "cranewatch/findings-v1"
SCHEMA_PATH = Path(__file__).with_name("findings-v1.schema.json")


def findings_document(analysis: Any) -> dict[str, Any]:
    """The findings file for one run.

    `analysis` needs `site` (Site or None), `inputs` (InputStats), `assets`,
    `findings` and optionally `flows`. The extra top-level key "flows" lets
    reports be rendered later without the capture; "declared_not_seen" (with
    a site file) names the declared devices the capture did not show.
    """
    site = getattr(analysis, "site", None)
    assets = getattr(analysis, "assets", None) or []
    doc = {
        "schema": SCHEMA_ID,
        "tool": {"name": "cranewatch", "version": __version__},
        "site": site.name if site is not None else None,
        "inputs": [input_entry(s) for s in getattr(analysis, "inputs", None) or []],
        "assets": [_jsonable(a.to_json()) for a in assets],
        "findings": [_jsonable(f.to_json()) for f in getattr(analysis, "findings", None) or []],
    }
    if site is not None:  # the site file's devices that no host on the wire matched
        doc["declared_not_seen"] = declared_not_seen(site, assets)
    doc["flows"] = [flow_entry(f) for f in getattr(analysis, "flows", None) or []]
    return doc


def input_entry(stats: Any) -> dict[str, Any]:
    """One `inputs[]` entry from a sources.batch.InputStats."""
    return {
        "path": str(stats.path),
        "format": str(stats.format),
        "packets": int(stats.packets),
        "bytes": int(stats.bytes),
        "first_ts": _ts(stats.first_ts),
        "last_ts": _ts(stats.last_ts),
        "errors": int(stats.errors),
        "skipped_bytes": int(stats.skipped_bytes),
        "warnings": [str(w) for w in stats.warnings],
    }


def flow_entry(flow: Any) -> dict[str, Any]:
    """One `flows[]` entry from an inventory.model.Flow (fields cast: they may be numpy)."""
    return {
        "proto": flow.l4,
        "orig_ip": str(flow.orig_ip),
        "orig_port": int(flow.orig_port),
        "resp_ip": str(flow.resp_ip),
        "resp_port": int(flow.resp_port),
        "orig_mac": _opt_str(flow.orig_mac),
        "resp_mac": _opt_str(flow.resp_mac),
        "first_ts": float(flow.first_ts),
        "last_ts": float(flow.last_ts),
        "orig_pkts": int(flow.orig_pkts),
        "resp_pkts": int(flow.resp_pkts),
        "orig_bytes": int(flow.orig_bytes),
        "resp_bytes": int(flow.resp_bytes),
        "service": _opt_str(flow.service),
        "name": _opt_str(flow.name),
        "connections": int(getattr(flow, "connections", 1)),
    }


def dumps(doc: dict[str, Any]) -> str:
    """The document as UTF-8-ready JSON text (NaN is refused: it is not JSON)."""
    out = io.StringIO()
    _write(doc, out)
    return out.getvalue()


def write_json(doc: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the document to `path` atomically; "-" means standard output."""
    if str(path) == "-":
        _write(doc, sys.stdout)
        sys.stdout.flush()
        return
    with atomic_open(path, "w") as fh:
        _write(doc, fh)


# Top-level lists written one compact entry per line: they grow with the capture.
_ONE_PER_LINE = frozenset({"flows"})
_LINES_PER_WRITE = 4096


def _write(doc: dict[str, Any], fh: IO[str]) -> None:
    """Two-space indented keys; each entry of a long list on one line of its own.

    Why: `json.dumps(indent=...)` runs the pure-Python encoder and holds the
    whole text and its pieces at once (~300 MB for 111k flows); entries dumped
    one by one go through the C encoder and leave the process as they are made,
    and a flow per line reads and greps well.
    """
    fh.write("{\n")
    last = len(doc) - 1
    for k, (key, value) in enumerate(doc.items()):
        end = ",\n" if k < last else "\n"
        name = _dump(key)
        if key in _ONE_PER_LINE and isinstance(value, list) and value:
            fh.write(f"  {name}: [\n")
            for start in range(0, len(value), _LINES_PER_WRITE):
                lines = [_dump(v) for v in value[start : start + _LINES_PER_WRITE]]
                more = ",\n" if start + _LINES_PER_WRITE < len(value) else "\n"
                fh.write("    " + ",\n    ".join(lines) + more)
            fh.write("  ]" + end)
        else:
            text = _dump(value, indent=2).replace("\n", "\n  ")
            fh.write(f"  {name}: {text}{end}")
    fh.write("}\n")


def _dump(value: Any, indent: int | None = None) -> str:
    separators = (",", ": ") if indent is not None else (", ", ": ")
    return json.dumps(
        value,
        indent=indent,
        separators=separators,
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The findings-v1 JSON Schema (draft 2020-12) shipped with the package."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    # imported here: ~80 ms that `analyze` (which writes, never reads, this file) need not pay
    import jsonschema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(doc: Any) -> None:
    """Raise jsonschema.ValidationError (the most relevant one) if `doc` breaks the schema."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        raise error


# --------------------------------------------------------------------------- helpers


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _jsonable(value: Any) -> Any:
    """Plain JSON types all the way down (numpy scalars, tuples and sets converted)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=str)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return _jsonable(_default(value))


def _default(value: Any) -> Any:
    """json.dumps fallback: numpy scalars/arrays via .item()/.tolist(), bytes as hex, else str."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)
