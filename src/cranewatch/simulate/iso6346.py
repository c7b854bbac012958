"""ISO 6346 freight container identification numbers and their check digit.

The leak detector must tell real container numbers (valid check digit) from
look-alikes, so the simulator plants both kinds.
"""

from __future__ import annotations

import random

# Letter values skip multiples of 11 (11, 22, 33), as ISO 6346 Annex A specifies.
_LETTER_VALUES: dict[str, int] = {}
_v = 10
for _c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _v % 11 == 0:
        _v += 1
    _LETTER_VALUES[_c] = _v
    _v += 1

# Real owner prefixes of large carriers and lessors (BIC registered codes).
OWNER_CODES = (
    "MSCU",
    "MEDU",
    "MAEU",
    "MSKU",
    "CMAU",
    "CSNU",
    "HLXU",
    "HLBU",
    "OOLU",
    "EGHU",
    "EMCU",
    "TGHU",
    "TCNU",
    "TRHU",
    "CAIU",
    "SEGU",
    "BMOU",
    "FCIU",
    "YMLU",
    "ONEU",
)


def check_digit(first10: str) -> int:
    """Check digit of owner code + category + 6-digit serial (10 characters).

    Sum of value * 2**position, modulo 11; a remainder of 10 is written 0.
    """
    total = 0
    for i, ch in enumerate(first10.upper()):
        val = _LETTER_VALUES[ch] if ch.isalpha() else int(ch)
        total += val << i
    return total % 11 % 10


def is_valid(number: str) -> bool:
    """True for an 11-character number whose last digit is the right check digit."""
    n = number.replace(" ", "").upper()
    if len(n) != 11 or not (n[:4].isalpha() and n[4:].isdigit()):
        return False
    return check_digit(n[:10]) == int(n[10])


def valid_number(rng: random.Random) -> str:
    """A container number with a correct check digit (remainder 10 avoided, as BIC does)."""
    while True:
        base = rng.choice(OWNER_CODES) + f"{rng.randrange(1_000_000):06d}"
        total = sum((_LETTER_VALUES[c] if c.isalpha() else int(c)) << i for i, c in enumerate(base))
        if total % 11 != 10:
            return base + str(total % 11)


def invalid_number(rng: random.Random) -> str:
    """Looks like a container number but the check digit is wrong."""
    base = valid_number(rng)[:10]
    good = check_digit(base)
    wrong = (good + rng.randint(1, 9)) % 10
    return base + str(wrong)
