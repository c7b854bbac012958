"""The unit every source yields: many packets sharing one byte buffer.

Sources never build a Python object per packet; they hand the decoder a buffer
and parallel numpy columns that locate each packet inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Bytes of zeros appended after the last packet of every batch, so that
# columnar decoders may read fixed-size headers past a short packet without
# bounds checks; masks built from `caplens` decide what is valid.
PAD = 128


@dataclass(slots=True)
class RawBatch:
    """Packets of one chunk of one capture.

    data:      uint8 buffer holding the captured bytes, followed by PAD zeros.
    offsets:   int64 start of each packet's captured bytes in `data`.
    caplens:   int32 captured length of each packet.
    wirelens:  int32 original length on the wire.
    ts:        float64 seconds since the epoch.
    linktypes: uint16 DLT/LINKTYPE of each packet (pcapng mixes interfaces).
    """

    data: np.ndarray
    offsets: np.ndarray
    caplens: np.ndarray
    wirelens: np.ndarray
    ts: np.ndarray
    linktypes: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)

    def packet(self, i: int) -> bytes:
        """The captured bytes of packet i (for deep parsing of selected packets)."""
        start = int(self.offsets[i])
        return self.data[start : start + int(self.caplens[i])].tobytes()


@dataclass(slots=True)
class InputStats:
    """What one input file gave: the `inputs[]` entry of the findings file."""

    path: str
    format: str = ""
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    errors: int = 0
    skipped_bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning once (the same text is not repeated)."""
        if message not in self.warnings:
            self.warnings.append(message)
