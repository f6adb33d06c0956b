"""`intake verify DIR`: check every file of an evidence bundle and name each one that fails.

A check is a function `(folder) -> [(file name, problem)]`; CHECKS lists them, and a new part
of the bundle brings its check with one more line there. Checks that read the same file accept
that another check is the one that names it: a changed manifest.json is named by the
SHA256SUMS check and makes the signature check fail, so both may speak.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from crypto import merkle
from crypto.custody import verify_manifest
from review.custody.verify import CHECKS as CUSTODY_CHECKS
from review.evidence.bundle import (
    PROOFS,
    SCRIPT,
    SCRIPT_BYTES,
    SUMS,
    VERIFY,
    verify_text,
)
from review.evidence.disclosure import check_disclosure
from review.evidence.reading import (
    Unreadable,
    file_size,
    read_range,
    read_small,
    scan,
    sha256_file,
)
from review.evidence.renewal_check import check_renewals
from review.evidence.tsa import TsaFailure, verify_response
from review.local import ReviewError
from review.tools import public_key_from_pem

Problem = tuple[str, str]
Check = Callable[[Path], list[Problem]]
# What a hostile file can make a check raise: besides the usual, JSON nested past the
# parser's recursion limit (RecursionError) and 1e999, which reads as infinity, given to int()
# (OverflowError). Each becomes one line naming the check, never a traceback.
MALFORMED: tuple[type[Exception], ...] = (
    ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError, ArithmeticError)
# The folders that hold the items: every file in them is named by an item of hashes.json.
ITEM_FOLDERS = ("sealed/", "disclosure/", "originals/", "working-copies/")

_SUMS_LINE = re.compile(r"([0-9a-f]{64})  (\S.*)")
_STATED_DIGEST = re.compile(r" +([0-9a-f]{64})  SHA256SUMS")


class BundleView(Mapping[str, bytes]):
    """The bundle's regular files by name; a file is read (capped) only when asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names = sorted(scan(folder).files)
        self._cache: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self.names:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = read_small(self.folder, name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def digest(self, name: str) -> str:
        return sha256_file(self.folder, name)


def bundle_files(folder: Path) -> BundleView:
    """Every regular file under `folder`, by its path relative to it (with / separators)."""
    return BundleView(folder)


def _read(folder: Path, name: str) -> bytes:
    return read_small(folder, name)


def _json(folder: Path, name: str) -> Any:
    try:
        return json.loads(_read(folder, name))
    except (ValueError, RecursionError):
        raise Unreadable(name, "is not valid JSON") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- SHA256SUMS and VERIFY.txt -----------------------------------------------------------------


def _stated_sums_digest(files: Mapping[str, bytes]) -> str | None:
    for line in files.get(VERIFY, b"").decode("utf-8", "replace").splitlines():
        found = _STATED_DIGEST.fullmatch(line)
        if found is not None:
            return found.group(1)
    return None


def _rebuilds(files: Mapping[str, bytes], digest: str | None) -> bool:
    """Whether VERIFY.txt is exactly what this bundle's files give, with that SHA256SUMS digest."""
    try:
        return verify_text(files, digest).encode("utf-8") == files.get(VERIFY)
    except (ValueError, KeyError, TypeError, Unreadable):
        return False


def _listed(sums: bytes) -> tuple[dict[str, str], list[Problem]]:
    listed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(sums.decode("utf-8", "replace").splitlines(), start=1):
        match = _SUMS_LINE.fullmatch(line)
        if match is None:
            problems.append((SUMS, f"line {number} is not `SHA256  NAME`"))
        else:
            listed[match.group(2)] = match.group(1)
    return listed, problems


def check_sums(folder: Path) -> list[Problem]:
    """Each file against SHA256SUMS, and SHA256SUMS against the digest VERIFY.txt states."""
    files = bundle_files(folder)
    if SUMS not in files:
        return [(SUMS, "is missing")]
    stated = _stated_sums_digest(files)
    if stated is not None and stated != _sha256(files[SUMS]) and _rebuilds(files, stated):
        # VERIFY.txt is intact and records another SHA256SUMS: the listing itself changed, so
        # it says nothing reliable about the other files (the other checks still do).
        return [(SUMS, "changed since export: its SHA-256 is not the one VERIFY.txt records")]
    listed, problems = _listed(files[SUMS])
    for name, digest in listed.items():
        if name not in files:
            problems.append((name, "is listed in SHA256SUMS but missing"))
        elif files.digest(name) != digest:
            problems.append((name, "changed since export: its SHA-256 differs from SHA256SUMS"))
    for name in files:
        if name not in listed and name not in (SUMS, VERIFY):
            problems.append((name, "is not listed in SHA256SUMS (added after export)"))
    canonical = "".join(f"{listed.get(n, '')}  {n}\n" for n in files if n not in (SUMS, VERIFY))
    if not problems and files[SUMS] != canonical.encode("utf-8"):
        problems.append((SUMS, "is not the canonical listing of the bundle's files"))
    return problems


def check_verify_text(folder: Path) -> list[Problem]:
    """VERIFY.txt is rebuilt from the bundle and must be exactly the same."""
    files = bundle_files(folder)
    if VERIFY not in files:
        return [(VERIFY, "is missing")]
    listed, _ = _listed(files.get(SUMS, b""))
    sources = ["hashes.json", PROOFS, *(n for n in files if n.endswith(".tsr"))]
    if any(n in files and listed.get(n) != files.digest(n) for n in sources):
        return []  # a file VERIFY.txt is made from changed: check_sums names it
    if _rebuilds(files, None):
        return []
    stated = _stated_sums_digest(files)
    if stated is not None and _rebuilds(files, stated):
        return []  # consistent with itself: SHA256SUMS is what changed (check_sums)
    return [(VERIFY, "differs from the instructions rebuilt from this bundle's files")]


# --- custody record, sealed files, hashes.json --------------------------------------------------


def check_manifest_signature(folder: Path) -> list[Problem]:
    manifest, signature = _read(folder, "manifest.json"), _read(folder, "manifest.sig")
    try:
        public = public_key_from_pem(_read(folder, "custody.pub.pem"))
    except ReviewError:
        return [("custody.pub.pem", "is not an Ed25519 public key in PEM form")]
    if not verify_manifest(public, manifest, signature):
        return [("manifest.sig", "does not verify manifest.json with custody.pub.pem")]
    return []


def _manifest_items(folder: Path) -> dict[int, dict[str, Any]]:
    manifest = _json(folder, "manifest.json")
    try:
        return {int(i["seq"]): i for i in manifest["items"]}
    except (KeyError, TypeError, ValueError):
        raise Unreadable("manifest.json", "is not a custody manifest") from None


def _hash_entries(folder: Path) -> list[dict[str, Any]]:
    document = _json(folder, "hashes.json")
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise Unreadable("hashes.json", "has no list of items")
    return list(document["items"])


def check_sealed_files(folder: Path) -> list[Problem]:
    """Each sealed file = age header + the payload whose size and SHA-256 manifest.json names."""
    manifest = _manifest_items(folder)
    problems = []
    for entry in _hash_entries(folder):
        name = str(entry.get("sealed_file"))
        size = file_size(folder, name)
        header = int(entry.get("header_bytes", -1))
        item = manifest.get(int(entry.get("seq", -1)))
        if item is None or not 0 < header <= size:
            problems.append(("hashes.json", f"does not describe {name} as manifest.json does"))
            continue
        if read_range(folder, name, 0, 22) != b"age-encryption.org/v1\n":
            problems.append((name, "is not an age file"))
        elif size - header != item["payload_size"] or sha256_file(
                folder, name, skip=header) != item["payload_sha256"]:
            problems.append((name, "its payload is not the one manifest.json records"))
        decrypted = str(entry.get("decrypted_file"))
        if sha256_file(folder, decrypted) != entry.get("plaintext_sha256"):
            problems.append((decrypted, "its SHA-256 is not the plaintext_sha256 of hashes.json"))
    return problems


def check_item_files(folder: Path) -> list[Problem]:
    """Nothing in the items' folders but the files hashes.json names: an added "original" (or
    one moved to a look-alike name that hashes.json was edited to point to) is evidence of
    nothing, and SHA256SUMS, which anyone can rewrite, is no reason to show it."""
    named = {str(e.get(field)) for e in _hash_entries(folder) if isinstance(e, dict)
             for field in ("sealed_file", "disclosure_header", "decrypted_file")}
    return [(name, "is in an item folder but no item of hashes.json names it: added after "
                   "export") for name in bundle_files(folder)
            if name.startswith(ITEM_FOLDERS) and name not in named]


def check_hashes_json(folder: Path) -> list[Problem]:
    """hashes.json agrees with manifest.json: same report, same items, same payload hashes."""
    manifest = _json(folder, "manifest.json")
    document = _json(folder, "hashes.json")
    items = _manifest_items(folder)
    entries = {int(e.get("seq", -1)): e for e in _hash_entries(folder)}
    problems = []
    if document.get("report") != manifest.get("report"):
        problems.append(("hashes.json", "names another report than manifest.json"))
    if document.get("custody_signature_valid") is not True:
        problems.append(("hashes.json", "records that the custody signature did not verify"))
    if set(entries) != set(items):
        problems.append(("hashes.json", "lists other items than manifest.json"))
    for seq, entry in entries.items():
        item = items.get(seq, {})
        if (entry.get("payload_sha256"), entry.get("role")) != (
                item.get("payload_sha256"), item.get("role")):
            problems.append(("hashes.json", f"item {seq} differs from manifest.json"))
    return problems


# --- trusted time ------------------------------------------------------------------------------


def _proofs(folder: Path) -> list[dict[str, Any]]:
    proofs = _json(folder, PROOFS)
    if not isinstance(proofs, list) or not all(isinstance(p, dict) for p in proofs):
        raise Unreadable(PROOFS, "is not a list of proofs")
    return proofs


def _day_folder(day: object) -> str:
    try:
        return f"timestamps/{dt.date.fromisoformat(str(day)).isoformat()}"
    except ValueError:
        raise Unreadable(PROOFS, f"names a day that is not a date: {day!r}") from None


def check_merkle_proofs(folder: Path) -> list[Problem]:
    """Each proof leads from its file's leaf hash to its day's root (root.bin and day.json)."""
    problems = []
    for proof in _proofs(folder):
        name, where = str(proof.get("file")), _day_folder(proof.get("day"))
        if "bytes" in proof:
            leaf = merkle.leaf_hash(read_range(folder, name, 0, int(proof["bytes"])))
        else:
            leaf = bytes.fromhex(sha256_file(folder, name, prefix=b"\x00"))
        root_bin = _read(folder, f"{where}/root.bin")
        day = _json(folder, f"{where}/day.json")
        if leaf.hex() != proof.get("leaf_hash"):
            problems.append((name, "is not the file its Merkle proof was made for"))
            continue
        try:
            path = [bytes.fromhex(p) for p in proof["path"]]
            computed = merkle.root_from_proof(
                int(proof["leaf_index"]), int(proof["tree_size"]), leaf, path)
        except (KeyError, TypeError, ValueError):
            computed = None
        stated = str(day.get("root", "")) if isinstance(day, dict) else ""
        if computed is None or computed.hex() not in (root_bin.hex(), stated):
            problems.append((PROOFS, f"the proof for {name} leads to neither root of {where}"))
        elif computed != root_bin:
            problems.append((f"{where}/root.bin", "is not the root the Merkle proof leads to"))
        elif stated != computed.hex() or day.get("leaf_count") != proof.get("tree_size"):
            problems.append((f"{where}/day.json", "does not describe the tree the proof is in"))
    return problems


def tsa_check(ca_pem: bytes | None = None) -> Check:
    """The RFC 3161 tokens over each day's root, verified against `ca_pem` (an authority's
    published CA certificates) or else the certificates bundled beside each token."""

    def check_timestamps(folder: Path) -> list[Problem]:
        problems = []
        for where in sorted({_day_folder(p.get("day")) for p in _proofs(folder)}):
            day = _json(folder, f"{where}/day.json")
            root = _read(folder, f"{where}/root.bin")
            day_ends = dt.datetime.combine(
                dt.date.fromisoformat(where.rsplit("/", 1)[1]) + dt.timedelta(days=1),
                dt.time(), dt.UTC)
            for token in day.get("tokens", []) if isinstance(day, dict) else []:
                name = f"{where}/{token.get('response')}"
                response = _read(folder, name)
                trusted = ca_pem or _read(folder, f"{where}/{token.get('ca_certificates')}")
                try:
                    gen_time = verify_response(response, root, trusted)
                except (TsaFailure, ValueError) as failure:
                    problems.append((name, f"is not a valid timestamp of root.bin ({failure})"))
                    continue
                if gen_time.isoformat() != token.get("gen_time"):
                    problems.append((f"{where}/day.json", f"states another time than {name}"))
                if gen_time < day_ends:
                    problems.append((name, "is dated before its day ended"))
        return problems

    return check_timestamps


def check_script(folder: Path) -> list[Problem]:
    if _read(folder, SCRIPT) != SCRIPT_BYTES:
        return [(SCRIPT, "is not the verify_merkle.py this version of intake ships")]
    return []


CHECKS: list[Check] = [
    check_sums,
    check_verify_text,
    check_manifest_signature,
    check_sealed_files,
    check_hashes_json,
    check_item_files,
    check_merkle_proofs,
    check_script,
    check_disclosure,
    check_renewals,
    *CUSTODY_CHECKS,
]


def verify_bundle(
    folder: Path, *, tsa_ca: bytes | None = None, checks: Sequence[Check] | None = None
) -> list[Problem]:
    """Every problem of the bundle in `folder`; an empty list means every check passed.

    A folder holding anything but regular files and folders (or a file over the size cap) is
    refused before any check reads it: one line per such entry, nothing else.
    """
    refused = scan(folder).refused
    if refused:
        return refused
    problems: list[Problem] = []
    for check in [*(checks if checks is not None else CHECKS), tsa_check(tsa_ca)]:
        try:
            found = check(folder)
        except Unreadable as unreadable:
            found = [unreadable.problem]
        except MALFORMED as error:
            name = check.__name__.removeprefix("check_")
            found = [(f"({name})", f"could not be checked: {type(error).__name__}")]
        problems.extend(p for p in found if p not in problems)
    return problems
