"""Put the certificate set of an RFC 3161 response into DER order, so a strict parser reads it.

`SignedData.certificates` is a SET OF: DER wants its elements sorted by their encodings, and
rfc3161-client refuses any other order. Some authorities (OpenSSL's `ts -reply` with `certs`,
for one) send the signing certificate first and the chain after it, which is valid BER. The
order carries no meaning and is not signed (the CMS signature covers the signed attributes
only), so sorting the elements changes nothing a verifier relies on; which certificate signed
is found by issuer and serial number, and the chain is built by issuer, never by position.
The bundle keeps the response as the authority sent it; only the verifier's copy is sorted.
"""

from __future__ import annotations

_SEQUENCE = 0x30
_CONTEXT_0 = 0xA0


def _element(data: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER element at `position`."""
    if position + 2 > len(data):
        raise ValueError("truncated element")
    tag = data[position]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not expected here")
    first = data[position + 1]
    if first < 0x80:
        start, length = position + 2, first
    elif first == 0x80 or first > 0x84:
        raise ValueError("indefinite or oversized length")
    else:
        count = first & 0x7F
        start = position + 2 + count
        length = int.from_bytes(data[position + 2:start], "big")
    if start + length > len(data):
        raise ValueError("element runs past its container")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each element inside [start, end)."""
    found = []
    position = start
    while position < end:
        tag, content, stop = _element(data, position)
        found.append((tag, position, content, stop))
        position = stop
    if position != end:
        raise ValueError("elements overrun their container")
    return found


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _rebuilt(data: bytes, path: list[tuple[int, int, int, int]], replacement: bytes) -> bytes:
    """`data` with the innermost element of `path` replaced, every enclosing length fixed."""
    _, begin, _, end = path[-1]
    new = replacement
    for outer_tag, outer_begin, outer_content, outer_end in reversed(path[:-1]):
        content = data[outer_content:begin] + new + data[end:outer_end]
        new = bytes([outer_tag]) + _length(len(content)) + content
        begin, end = outer_begin, outer_end
    return data[:begin] + new + data[end:]


def sorted_certificates(response: bytes) -> bytes:
    """The TimeStampResp with SignedData.certificates in DER order (unchanged if it is, or if
    the response is not shaped as expected: the strict parser then says what is wrong)."""
    try:
        tag, content, end = _element(response, 0)
        if tag != _SEQUENCE or end != len(response):
            return response
        top = (tag, 0, content, end)
        parts = _children(response, content, end)
        if len(parts) < 2 or parts[1][0] != _SEQUENCE:
            return response
        token = parts[1]
        explicit = _children(response, token[2], token[3])
        if len(explicit) < 2 or explicit[1][0] != _CONTEXT_0:
            return response
        signed = _children(response, explicit[1][2], explicit[1][3])
        if len(signed) != 1 or signed[0][0] != _SEQUENCE:
            return response
        fields = _children(response, signed[0][2], signed[0][3])
        certificates = next((f for f in fields if f[0] == _CONTEXT_0), None)
        if certificates is None:
            return response
        elements = [response[b:e] for _, b, _, e in
                    _children(response, certificates[2], certificates[3])]
        width = max((len(e) for e in elements), default=0)
        ordered = sorted(elements, key=lambda e: e.ljust(width, b"\0"))
        if ordered == elements:
            return response
        body = b"".join(ordered)
        replacement = bytes([_CONTEXT_0]) + _length(len(body)) + body
        return _rebuilt(response, [top, token, explicit[1], signed[0], certificates],
                        replacement)
    except ValueError:
        return response
