"""Plain numbers that YAML 1.1 and YAML 1.2 read differently.

The loader is PyYAML's, which follows YAML 1.1; editors, yaml-language-server and the JSON
schema follow YAML 1.2. Where the two give other values, the file would mean one thing in the
editor and another in the run, so such a number is refused with how to write it instead.
Floats that only YAML 1.2 reads as numbers (`1e6`, `1e-3`: YAML 1.1 wants a dot and a signed
exponent) are read as numbers (`YAML12_FLOAT`): as text, `max_samples: 1e6` was refused as
no integer while editors showed no error.
"""

from __future__ import annotations

import re
from typing import Any

INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"

_LEADING_ZERO = re.compile(r"[-+]?0[0-7_]+")
"""YAML 1.1's octal form; YAML 1.2 reads the same digits as a decimal number."""
_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
"""YAML 1.1's base-60 form (`1:30` is 90); YAML 1.2 reads it as text, as it reads numbers
with `_` (`1_000`) and binary ones (`0b11`)."""


def differing_number(value: str, tag: str) -> str | None:
    """Why a plain scalar that YAML 1.1 resolved to `tag` means something else in YAML 1.2,
    and how to write it; None when both read it alike."""
    if tag not in (INT_TAG, FLOAT_TAG):
        return None
    if tag == INT_TAG and _LEADING_ZERO.fullmatch(value):
        sign = "-" if value.startswith("-") else ""
        digits = value.lstrip("+-").replace("_", "")
        octal, decimal = int(digits, 8), int(digits, 10)
        if octal != decimal:  # 0 to 7 are the same number either way
            return (
                f"{value} is {sign}{octal} in YAML 1.1 (octal, as the run reads it) but "
                f"{sign}{decimal} in YAML 1.2 (editors): write {sign}{decimal} or {sign}{octal} "
                "without the leading zero"
            )
    if _BASE_60.fullmatch(value):
        return (
            f"{value} is a base-60 number in YAML 1.1 (as the run reads it) but text in YAML "
            f"1.2 (editors): write the number it stands for, or quote it ('{value}') for text"
        )
    digits = value.lstrip("+-")
    if "_" in value or (tag == INT_TAG and digits[:2] in ("0b", "0B")):
        number = _yaml11_number(value, tag)
        return (
            f"{value} is {number} in YAML 1.1 (as the run reads it) but text in YAML 1.2 "
            f"(editors): write {number}, or quote it ('{value}') for text"
        )
    return None


def _yaml11_number(value: str, tag: str) -> str:
    """The number YAML 1.1 reads from an int or float with `_` or a `0b` prefix."""
    text = value.replace("_", "")
    if tag == FLOAT_TAG:
        return repr(float(text))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0b", "0B"):
        return str(sign * int(digits[2:], 2))
    return str(sign * int(digits, 16 if digits[:2] in ("0x", "0X") else 10))


YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
"""YAML 1.2's float (core schema); tried after YAML 1.1's int and float forms, so it reads the
forms that YAML 1.1 leaves text (`1e6`, `2.5e3`, `.5E-2`)."""


def with_yaml12_floats(
    resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]],
) -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers (by first character) with `YAML12_FLOAT` after the others."""
    extended = {first: list(found) for first, found in resolvers.items()}
    pattern = re.compile(f"^(?:{YAML12_FLOAT.pattern})$")
    for first in "-+.0123456789":
        extended.setdefault(first, []).append((FLOAT_TAG, pattern))
    return extended
