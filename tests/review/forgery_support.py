"""What a forger does to an exported bundle, with the bundle's own code and stock openssl.

Each helper changes a bundle the way someone who read incident-intake's source would, then
rewrites SHA256SUMS and VERIFY.txt so that every self-consistency check passes: what is left
to catch the forgery is what comes from outside the bundle (the pinned anchors).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cli.main import main
from crypto.custody import custody_public_pem, sign_manifest
from review.custody.chain import TIMELINE_FILE, timeline
from review.evidence.anchors import Anchors, load_anchors
from review.evidence.bundle import SUMS, VERIFY, sums_listing, verify_text
from review.evidence.der_order import _children, _element
from review.evidence.verdict import Verdict
from storage import Storage
from storage.audit import AuditRecord
from tests.review.evidence_support import Anchored, recent_days, two_days_anchored
from tests.review.tsa import _CONFIG, LocalTsa, TsaPki, openssl


def files_of(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes()
            for p in sorted(bundle.rglob("*")) if p.is_file() and not p.is_symlink()}


def reseal(bundle: Path) -> None:
    """SHA256SUMS and VERIFY.txt rewritten to match whatever the bundle now holds."""
    files = {n: d for n, d in files_of(bundle).items() if n not in (SUMS, VERIFY)}
    files[SUMS] = sums_listing(files)
    (bundle / SUMS).write_bytes(files[SUMS])
    (bundle / VERIFY).write_text(verify_text(files))


def resign(bundle: Path, key: bytes) -> None:
    """The manifest and every custody entry signed with the forger's own key, shipped."""
    (bundle / "custody.pub.pem").write_bytes(custody_public_pem(key))
    manifest = (bundle / "manifest.json").read_bytes()
    (bundle / "manifest.sig").write_bytes(sign_manifest(key, manifest))
    chain = bundle / "custody" / "chain.jsonl"
    lines = []
    for text in chain.read_text().splitlines():
        line = json.loads(text)
        signature = sign_manifest(key, line["entry"].encode("ascii"))
        line["signature"] = base64.b64encode(signature).decode("ascii")
        (bundle / line["signature_file"]).write_bytes(signature)
        lines.append(json.dumps(line, sort_keys=True, separators=(",", ":")))
    chain.write_text("".join(f"{line}\n" for line in lines))
    records = [AuditRecord(line["seq"], line["entry"].encode("ascii"), line["entry_sha256"],
                           base64.b64decode(line["signature"]))
               for line in map(json.loads, lines)]
    report_id = json.loads(manifest)["report"]
    (bundle / TIMELINE_FILE).write_text(timeline(report_id, manifest, records))


def own_key_forgery(bundle: Path) -> None:
    """The manifest's claim changed (received a week earlier), signed with a new key."""
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    day = dt.date.fromisoformat(manifest["received_day"]) - dt.timedelta(days=7)
    manifest["received_day"] = day.isoformat()
    (bundle / "manifest.json").write_bytes(
        json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("ascii"))
    strip_tokens(bundle, proofs_too=True)
    resign(bundle, secrets.token_bytes(32))
    reseal(bundle)


def strip_tokens(bundle: Path, *, proofs_too: bool = False) -> None:
    """Every RFC 3161 token removed (and day.json saying there were none)."""
    for day_json in (bundle / "timestamps").glob("*/day.json"):
        day = json.loads(day_json.read_bytes())
        for token in day["tokens"]:
            (day_json.parent / token["response"]).unlink()
            (day_json.parent / token["ca_certificates"]).unlink()
        day["tokens"] = []
        day_json.write_text(json.dumps(day, indent=2, sort_keys=True) + "\n")
    if proofs_too:
        for path in sorted((bundle / "timestamps").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (bundle / "timestamps" / "proofs.json").write_text("[]\n")
    reseal(bundle)


def openssl_token(pki: TsaPki, data: bytes, work: Path) -> bytes:
    """`openssl ts -reply` from `pki` over SHA-256(data), as a TSA would answer."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").write_bytes(data)
    subprocess.run([openssl(), "ts", "-query", "-data", str(work / "data"), "-sha256", "-cert",
                    "-out", str(work / "q.tsq")], check=True, capture_output=True)
    subprocess.run([openssl(), "ts", "-reply", "-config", str(pki.config), "-queryfile",
                    str(work / "q.tsq"), "-out", str(work / "r.tsr")], check=True,
                   capture_output=True)
    return (work / "r.tsr").read_bytes()


def _inner(data: bytes, position: int) -> list[tuple[int, int, int, int]]:
    _, start, end = _element(data, position)
    return _children(data, start, end)


def backdated(response: bytes, pki: TsaPki, days: int) -> bytes:
    """The same token with genTime `days` earlier, re-signed with the TSA's own key (what a
    look-alike authority, or anyone holding a TSA key, can issue)."""
    data = bytearray(response)
    token = _inner(bytes(data), 0)[1]
    signed = _inner(bytes(data), _inner(bytes(data), token[1])[1][1])[0]
    fields = _inner(bytes(data), signed[1])
    encap = _inner(bytes(data), fields[2][1])
    octets = _inner(bytes(data), encap[1][1])[0]  # eContent [0] { OCTET STRING TSTInfo }
    tst_start, tst_end = octets[2], octets[3]
    tst = _inner(bytes(data), tst_start)
    gen = next(f for f in tst if f[0] == 0x18)
    old = bytes(data[gen[2]:gen[3]]).decode("ascii")
    moment = dt.datetime.strptime(old[:14], "%Y%m%d%H%M%S") - dt.timedelta(days=days)
    new = moment.strftime("%Y%m%d%H%M%S") + old[14:]
    data[gen[2]:gen[3]] = new.encode("ascii")
    digest = hashlib.sha256(bytes(data[tst_start:tst_end])).digest()
    signer = _inner(bytes(data), fields[-1][1])[0]
    signer_fields = _inner(bytes(data), signer[1])
    attributes = next(f for f in signer_fields if f[0] == 0xA0)
    attrs = bytes(data[attributes[1]:attributes[3]])
    oid = bytes.fromhex("06092a864886f70d010904")  # messageDigest
    at = attrs.index(oid) + len(oid) + 4  # SET { OCTET STRING (32) }
    attrs = attrs[:at] + digest + attrs[at + 32:]
    data[attributes[1]:attributes[3]] = attrs
    key = serialization.load_pem_private_key((pki.folder / "tsa.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature_field = next(f for f in signer_fields if f[0] == 0x04)
    length = signature_field[3] - signature_field[2]
    while True:  # an ECDSA signature of the same length keeps every enclosing length
        signature = key.sign(b"\x31" + attrs[1:], ec.ECDSA(hashes.SHA256()))
        if len(signature) == length:
            break
    data[signature_field[2]:signature_field[3]] = signature
    return bytes(data)


def backdated_pki(folder: Path, valid_from_days_ago: int = 400) -> TsaPki:
    """A look-alike CA and TSA (the real test CA's names, its own keys) whose certificates
    have been valid for a while, so a backdated token's time is inside their validity."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=valid_from_days_ago), now + dt.timedelta(days=3650)
    ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca = (x509.CertificateBuilder().subject_name(name("incident-intake test CA"))
          .issuer_name(name("incident-intake test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    tsa = (x509.CertificateBuilder().subject_name(name("incident-intake test TSA"))
           .issuer_name(ca.subject).public_key(tsa_key.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(start)
           .not_valid_after(end)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                        False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                          critical=True)
           .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()),
                          critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
               ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "tsa.pem").write_bytes(tsa.public_bytes(pem))
    (folder / "tsa.key").write_bytes(tsa_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / "serial").write_text("01\n")
    config = folder / "openssl.cnf"
    config.write_text(_CONFIG.format(dir=folder))
    return TsaPki(folder, config, folder / "ca.pem", folder / "tsa.pem")


_P = (1 << 130) - 5


def _poly_keys(key: bytes, nonce: bytes) -> tuple[int, int]:
    """Poly1305's (r, s) for ChaCha20-Poly1305 with this key and 12-byte nonce (RFC 8439)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    block = Cipher(algorithms.ChaCha20(key, b"\0" * 4 + nonce), None).encryptor().update(
        b"\0" * 32)
    r = int.from_bytes(block[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    return r, int.from_bytes(block[16:], "little")


def _poly(values: list[int], r: int, skip: int | None = None) -> int:
    """Poly1305's accumulator over these block values (2^128 already added), mod p."""
    count = len(values)
    return sum(v * pow(r, count - j, _P) for j, v in enumerate(values) if j != skip) % _P


def two_key_payload(plaintext_size: int = 64) -> tuple[bytes, bytes, bytes]:
    """(file key 1, file key 2, an age payload that both decrypt without error, to different
    bytes). ChaCha20-Poly1305 does not commit to its key: one free ciphertext block is solved
    for so that both keys' Poly1305 tags agree (a multi-key collision, Len et al. 2021)."""
    from crypto._stream import payload_key

    assert plaintext_size % 16 == 0 and plaintext_size >= 32
    nonce12 = b"\0" * 11 + b"\x01"  # the first and last chunk
    length = (0).to_bytes(8, "little") + plaintext_size.to_bytes(8, "little")
    while True:
        key_1, key_2, nonce = (secrets.token_bytes(16), secrets.token_bytes(16),
                               secrets.token_bytes(16))
        r1, s1 = _poly_keys(payload_key(key_1, nonce), nonce12)
        r2, s2 = _poly_keys(payload_key(key_2, nonce), nonce12)
        ciphertext = bytearray(secrets.token_bytes(plaintext_size))
        values = [int.from_bytes(ciphertext[i:i + 16], "little") + (1 << 128)
                  for i in range(0, plaintext_size, 16)]
        values.append(int.from_bytes(length, "little") + (1 << 128))
        e1, e2 = pow(r1, len(values), _P), pow(r2, len(values), _P)  # the first block's power
        if (e1 - e2) % _P == 0:
            continue
        solved = ((s2 - s1) - _poly(values, r1, 0) + _poly(values, r2, 0)) * pow(
            e1 - e2, -1, _P) % _P
        if not (1 << 128) <= solved < (1 << 129):
            continue
        values[0] = solved
        ciphertext[0:16] = (solved - (1 << 128)).to_bytes(16, "little")
        tag_1 = (_poly(values, r1) + s1) % (1 << 128)
        if tag_1 != (_poly(values, r2) + s2) % (1 << 128):
            continue
        return key_1, key_2, nonce + bytes(ciphertext) + tag_1.to_bytes(16, "little")


# --- the tests' shared steps ----------------------------------------------------------------

DAY_1 = recent_days()[0]


async def exported(storage: Storage, tsa: LocalTsa, tmp_path: Path) -> tuple[Anchored, Path]:
    anchored = await two_days_anchored(storage, tsa, recent_days())
    return anchored, await anchored.export(tmp_path / "bundle")


def pins_for(anchored: Anchored, pki: TsaPki, tmp_path: Path) -> Anchors:
    key = tmp_path / "published-custody.pub.pem"
    key.write_bytes(custody_public_pem(anchored.custody_key))
    return load_anchors(custody_key_files=[key], tsa_ca_files=[pki.ca_cert])


def copy_of(bundle: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(bundle, copy)
    return copy


def reasons(verdict: Verdict) -> str:
    return "\n".join(f"{n}: {w}" for n, w in [*verdict.problems, *verdict.reasons])


async def verify_cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["verify", *args], catch_exceptions=False)
    return result.exit_code, result.output


def hashes_of(bundle: Path) -> dict[str, Any]:
    return dict(json.loads((bundle / "hashes.json").read_bytes()))


def write_hashes(bundle: Path, document: dict[str, Any]) -> None:
    (bundle / "hashes.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
