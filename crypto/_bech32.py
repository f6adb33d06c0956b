"""Bech32 (BIP-173) as age uses it: the original checksum, no length limit.

age keys are longer than BIP-173's 90-character cap, so the cap is not applied.
The human-readable part is returned in the case it was written in, because age
distinguishes ``age`` recipients from ``AGE-SECRET-KEY-`` identities by it.
"""

from __future__ import annotations

from typing import Final

CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV: Final = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LEN: Final = 6


class Bech32Error(ValueError):
    """Malformed Bech32; the message never contains the input."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, data: list[int]) -> list[int]:
    pm = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    return [(pm >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LEN)]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    max_v = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_v)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_v)
    elif bits >= from_bits or (acc << (to_bits - bits)) & max_v:
        # Leftover bits must be fewer than a group and all zero, else the
        # encoding is not the unique one for these bytes.
        raise Bech32Error("invalid padding in Bech32 data")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode; an all-uppercase ``hrp`` yields an all-uppercase string."""
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error("invalid Bech32 human-readable part")
    if hrp.lower() != hrp and hrp.upper() != hrp:
        raise Bech32Error("mixed-case Bech32 human-readable part")
    lower_hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, pad=True)
    combined = values + _checksum(lower_hrp, values)
    text = lower_hrp + "1" + "".join(CHARSET[v] for v in combined)
    return text.upper() if hrp.upper() == hrp and hrp.lower() != hrp else text


def decode(text: str) -> tuple[str, bytes]:
    """Decode to (human-readable part as written, data bytes)."""
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise Bech32Error("Bech32 strings contain only printable ASCII without spaces")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("Bech32 strings must be all lowercase or all uppercase")
    pos = text.rfind("1")
    if pos < 1 or pos + 1 + _CHECKSUM_LEN > len(text):
        raise Bech32Error("Bech32 separator or checksum missing")
    hrp = text[:pos]
    lowered = text.lower()
    try:
        values = [_CHARSET_REV[c] for c in lowered[pos + 1 :]]
    except KeyError:
        raise Bech32Error("invalid character in Bech32 data") from None
    if _polymod([*_hrp_expand(hrp.lower()), *values]) != 1:
        raise Bech32Error("invalid Bech32 checksum")
    return hrp, bytes(_convert_bits(values[:-_CHECKSUM_LEN], 5, 8, pad=False))
