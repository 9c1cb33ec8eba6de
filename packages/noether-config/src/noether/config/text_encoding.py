"""The encoding of a YAML file, as the YAML spec detects it: UTF-8, or UTF-16 / UTF-32 when the
file starts with their byte order mark (what Windows PowerShell 5's `>` and `Out-File` write).
"""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def yaml_encoding(head: bytes) -> str:
    """The codec of a file whose first bytes are `head` (4 are enough); the codecs named here
    consume the byte order mark. UTF-8 (with or without a BOM) otherwise."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    return "utf-8"
