"""Trust anchors from outside the bundle: the custody key and TSA CAs the examiner pins.

A bundle carries its own custody.pub.pem and the TSA CA certificates its tokens were checked
against when they arrived, but anyone can make a bundle whose keys vouch for its contents.
What gives a bundle weight is that its custody key is the one the organisation publishes and
its tokens chain to a CA the authority publishes, obtained by the examiner on their own. Those
come from `intake verify` flags or a TOML file (`--anchors FILE`, INTAKE_VERIFY_ANCHORS):

    custody_key_files = ["org-custody.pub.pem"]          # the organisation's published key(s)
    custody_fingerprints = ["3f5c...e1"]                 # or just their SHA-256 fingerprints
    custody_rotations = ["custody-rotations.jsonl"]      # the organisation's key rotations
    tsa_ca_files = ["freetsa-cacert.pem"]                # each authority's published CA
    max_gap_hours = 48                                   # warn above this receipt-to-proof gap
    max_file_size = 4294967296                           # refuse bigger files unread

A custody fingerprint is SHA-256 of the key's DER SubjectPublicKeyInfo, what
`openssl pkey -pubin -in custody.pub.pem -outform DER | sha256sum` prints; a CA's is
SHA-256 of the certificate's DER, what `openssl x509 -noout -fingerprint -sha256` prints.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from crypto.custody import custody_fingerprint as raw_custody_fingerprint
from crypto.custody import custody_public_from_pem, rotation_link
from review.evidence.reading import DEFAULT_MAX_FILE

DEFAULT_MAX_GAP = dt.timedelta(hours=48)


class AnchorError(ValueError):
    """A pinned anchor cannot be used; the message is one line naming the fix."""


@dataclass(frozen=True)
class Anchors:
    custody_fingerprints: frozenset[str] = frozenset()
    # Lines of custody-rotations.jsonl (crypto.custody.rotation_record): each links a key to
    # its successor, signed by both; a key linked to a pinned one is accepted too.
    custody_rotations: tuple[bytes, ...] = ()
    tsa_ca_pem: bytes = b""
    max_gap: dt.timedelta = DEFAULT_MAX_GAP
    max_file_size: int = DEFAULT_MAX_FILE
    # The time to judge certificates' expiry at (None: now): an examiner can ask how a bundle
    # stands on a later date, when an authority's certificate will have expired.
    at: dt.datetime | None = None

    def accepted_custody(self) -> frozenset[str]:
        """The pinned custody fingerprints and every key linked to one by rotations."""
        links = [link for line in self.custody_rotations
                 if (link := rotation_link(line)) is not None]
        accepted = set(self.custody_fingerprints)
        grew = True
        while grew:
            grew = False
            for previous, successor in links:
                if (previous in accepted) != (successor in accepted):
                    accepted.update((previous, successor))
                    grew = True
        return frozenset(accepted)

    @property
    def custody_pinned(self) -> bool:
        return bool(self.custody_fingerprints)

    @property
    def tsa_pinned(self) -> bool:
        return bool(self.tsa_ca_pem)


def custody_fingerprint(pem: bytes) -> str:
    """SHA-256 (hex) of the Ed25519 key's DER SubjectPublicKeyInfo; ValueError if not one."""
    return raw_custody_fingerprint(custody_public_from_pem(pem))


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----")


def certificate_fingerprints(pem: bytes) -> list[tuple[str, str]]:
    """(subject, SHA-256 fingerprint as openssl prints it) of each certificate in `pem`."""
    out = []
    for block in _PEM_CERTIFICATE.findall(pem):
        der = base64.b64decode(b"".join(block.split()))
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        digest = hashlib.sha256(der).digest()
        out.append((subject, ":".join(f"{b:02X}" for b in digest)))
    if not out:
        raise ValueError("no PEM certificate")
    return out


def _normalised(fingerprint: str) -> str:
    cleaned = fingerprint.replace(":", "").strip().lower()
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise AnchorError(f"{fingerprint!r} is not a SHA-256 fingerprint (64 hex digits)")
    return cleaned


def _gap(hours: object, where: str) -> dt.timedelta:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not (
            0 <= hours <= 24 * 366 * 100):
        raise AnchorError(f"{where} must be a number of hours, 0 or more (48 if absent)")
    return dt.timedelta(hours=hours)


def _size(size: object, where: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise AnchorError(f"{where} must be a whole number of bytes, 1 or more")
    return size


def _outside(bundle: Path, paths: Sequence[Path]) -> None:
    inside = bundle.resolve()
    for path in paths:
        if path.resolve().is_relative_to(inside):
            raise AnchorError(f"{path} is inside the bundle: an anchor must come from outside "
                              "it (the organisation's and the authority's own publications)")


def load_anchors(
    *,
    custody_key_files: Sequence[Path] = (),
    custody_fingerprints: Sequence[str] = (),
    custody_rotations: Sequence[Path] = (),
    tsa_ca_files: Sequence[Path] = (),
    config: Path | None = None,
    max_gap_hours: float | None = None,
    max_file_size: int | None = None,
    bundle: Path | None = None,
) -> Anchors:
    """Flags and the config file together (flags add to the file's pins and override limits).

    With `bundle`, the folder being verified, an anchor file inside it is refused: a forged
    bundle can ship an anchors file naming its own key and CA, and tell the examiner to use it.
    """
    keys, prints, cas = list(custody_key_files), list(custody_fingerprints), list(tsa_ca_files)
    rotation_files = list(custody_rotations)
    gap, size = DEFAULT_MAX_GAP, DEFAULT_MAX_FILE
    if config is not None:
        try:
            document = tomllib.loads(config.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise AnchorError(f"{config}: cannot read the anchors file ({error})") from None
        base = config.parent
        keys += [base / str(p) for p in document.get("custody_key_files", [])]
        prints += [str(p) for p in document.get("custody_fingerprints", [])]
        cas += [base / str(p) for p in document.get("tsa_ca_files", [])]
        rotation_files += [base / str(p) for p in document.get("custody_rotations", [])]
        gap = _gap(document.get("max_gap_hours", 48), f"{config}: max_gap_hours")
        size = _size(document.get("max_file_size", DEFAULT_MAX_FILE), f"{config}: max_file_size")
    if max_gap_hours is not None:
        gap = _gap(max_gap_hours, "--max-gap-hours")
    if max_file_size is not None:
        size = _size(max_file_size, "--max-file-size")
    if bundle is not None:
        _outside(bundle, [*([config] if config is not None else []), *keys, *cas,
                          *rotation_files])
    pinned = {_normalised(p) for p in prints}
    for path in keys:
        try:
            pinned.add(custody_fingerprint(path.read_bytes()))
        except (OSError, ValueError) as error:
            raise AnchorError(f"{path}: not a usable custody public key (PEM Ed25519): "
                              f"{error}") from None
    pem = b""
    for path in cas:
        try:
            data = path.read_bytes()
            x509.load_pem_x509_certificates(data)
        except (OSError, ValueError) as error:
            raise AnchorError(f"{path}: not PEM CA certificates: {error}") from None
        pem += data if data.endswith(b"\n") else data + b"\n"
    rotations: list[bytes] = []
    for path in rotation_files:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as error:
            raise AnchorError(f"{path}: cannot read the custody rotations: {error}") from None
        if any(rotation_link(line) is None for line in lines if line.strip()):
            raise AnchorError(f"{path}: a line is not a rotation signed by both keys: get the "
                              "file again from the organisation")
        rotations += [line for line in lines if line.strip()]
    return Anchors(frozenset(pinned), tuple(rotations), pem, gap, size)
