"""An RFC 3161 client: ask a Time-Stamp Authority to timestamp a day's Merkle root.

The request's message imprint is SHA-256 of the 32 root bytes (what `openssl ts -verify -data
root.bin` hashes), with a nonce and a request for the TSA's certificate. A response is kept only
after it verifies: status granted, signature and chain up to one of the configured CA
certificates, critical timeStamping extended key usage, our nonce, our imprint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

if TYPE_CHECKING:
    import aiohttp

# aiohttp and rfc3161-client are imported where a timestamp is requested or verified: reading
# the configuration (`intake serve` at start) needs neither in memory (bench/drafts_memory.py).
_TIMEOUT_SECONDS = 30
_MAX_RESPONSE = 1 << 20


class TsaFailure(Exception):
    """A timestamping attempt failed; `kind` is short and names no report (it is stored)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class TsaConfig:
    url: str
    ca_pem: bytes

    def roots(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.ca_pem)


@dataclass(frozen=True)
class Timestamp:
    tsa: str
    response: bytes  # DER TimeStampResp, as the TSA sent it (`openssl ts -verify -in`)
    ca_pem: bytes
    gen_time: dt.datetime


def load_tsa_configs(urls: list[str], ca_files: list[Path]) -> list[TsaConfig]:
    """Every TSA is trusted through the same CA certificates (all files, concatenated)."""
    pem = b"".join(path.read_bytes() for path in ca_files)
    if urls and not pem:
        raise ValueError("no CA certificates to verify timestamps with")
    if pem:
        x509.load_pem_x509_certificates(pem)  # refuse a file that is not PEM certificates
    return [TsaConfig(url, pem) for url in urls]


def verify_response(response: bytes, root: bytes, ca_pem: bytes, nonce: int | None = None
                    ) -> dt.datetime:
    """The token's genTime if `response` timestamps `root` under these CAs; else TsaFailure."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    from review.evidence.der_order import sorted_certificates

    try:
        decoded = decode_timestamp_response(sorted_certificates(response))
    except ValueError as error:
        raise TsaFailure("malformed", str(error)) from None
    builder = VerifierBuilder(nonce=nonce)
    try:
        for certificate in x509.load_pem_x509_certificates(ca_pem):
            builder = builder.add_root_certificate(certificate)
        builder.build().verify_message(decoded, root)
    except (VerificationError, ValueError) as error:
        raise TsaFailure("invalid_token", str(error)) from None
    gen_time = decoded.tst_info.gen_time
    return gen_time if gen_time.tzinfo else gen_time.replace(tzinfo=dt.UTC)


def token_expiry(response: bytes) -> dt.datetime | None:
    """When the first certificate the token carries expires (its authority's, with cert_req):
    from then on the token proves its time only when a renewal made before covers it."""
    from rfc3161_client import decode_timestamp_response

    from review.evidence.der_order import sorted_certificates

    try:
        decoded = decode_timestamp_response(sorted_certificates(response))
        certificates = decoded.signed_data.certificates
        return min((x509.load_der_x509_certificate(c).not_valid_after_utc for c in certificates),
                   default=None)
    except ValueError:
        return None


async def request_timestamp(
    session: aiohttp.ClientSession, tsa: TsaConfig, root: bytes
) -> Timestamp:
    import aiohttp
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    request = TimestampRequestBuilder(
        data=root, hash_algorithm=HashAlgorithm.SHA256, nonce=True, cert_req=True
    ).build()
    try:
        async with session.post(
            tsa.url, data=request.as_bytes(), timeout=aiohttp.ClientTimeout(total=_TIMEOUT_SECONDS),
            headers={"Content-Type": "application/timestamp-query"},
        ) as reply:
            if reply.status != 200:
                raise TsaFailure("http_error", f"HTTP {reply.status}")
            # Chunk by chunk to the end (content.read(n) returns what has arrived so far),
            # and no further than the limit.
            chunks: list[bytes] = []
            size = 0
            async for chunk in reply.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > _MAX_RESPONSE:
                    raise TsaFailure("malformed", "response too large")
                chunks.append(chunk)
            body = b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise TsaFailure("unreachable", type(error).__name__) from None
    gen_time = verify_response(body, root, tsa.ca_pem, nonce=request.nonce)
    return Timestamp(tsa.url, body, tsa.ca_pem, gen_time)
