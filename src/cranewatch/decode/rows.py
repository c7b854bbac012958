"""Equal rows of a uint64 table, found by hashing: for grouping many small keys per batch.

Dispatch groups repeated messages (same ends, same bytes but the id) and the
flow table groups flows about to be folded (same fold key); both build a
table of uint64 columns, one row per item. `np.unique(axis=0)` would sort the
rows as structured values, several times slower than hashing each row to one
uint64 and sorting those; the hash is then checked, row against row.
"""

from __future__ import annotations

import numpy as np

_M = np.uint64(0x9E3779B97F4A7C15)


def first_equal(table: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row equal to it (its own index when none before).

    Exact: when a hash collision put unequal rows together, the rows are
    grouped again with `np.unique(axis=0)`.
    """
    if not len(table):
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(row_hash(table), return_index=True, return_inverse=True)
    equal_to = first[inverse.reshape(-1)]
    if not (table == table[equal_to]).all():
        _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
        equal_to = first[inverse.reshape(-1)]
    return equal_to


def row_hash(table: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a uint64 table, column by column over all rows."""
    h = np.zeros(len(table), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in table.T:
            h = (h ^ col) * _M
            h ^= h >> np.uint64(31)
    return h
