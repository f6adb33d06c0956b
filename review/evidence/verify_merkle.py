#!/usr/bin/env python3
"""Check an evidence bundle's Merkle inclusion proofs (RFC 6962), Python standard library only.

Usage: python3 verify_merkle.py [BUNDLE_FOLDER]    (default: the folder this script is in)

For each entry of timestamps/proofs.json: the leaf hash is SHA-256(0x00 || the named file, or
its first `bytes` bytes when the entry says so: a sealed file's age header), and
the audit path must lead from it to the root in timestamps/DAY/root.bin, which is what the
RFC 3161 token of that day timestamps (check that with `openssl ts -verify`, see VERIFY.txt).
Exit status 0 when every proof holds, 1 otherwise.
"""

import hashlib
import json
import sys
from pathlib import Path


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root the path leads to, or None if it cannot."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0 or len(sibling) != 32:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


def check(folder: Path, proof: dict[str, object]) -> str | None:
    """None when the proof holds, else what is wrong."""
    name, day = str(proof["file"]), str(proof["day"])
    if name.startswith("/") or ".." in name.split("/") or "/" in day or ".." in day:
        return "the proof names a file outside the bundle"
    try:
        with (folder / name).open("rb") as handle:
            data = handle.read(int(str(proof["bytes"]))) if "bytes" in proof else handle.read()
        leaf = hashlib.sha256(b"\x00" + data).digest()
        root = (folder / "timestamps" / day / "root.bin").read_bytes()
        path = [bytes.fromhex(str(p)) for p in proof["path"]]  # type: ignore[attr-defined]
        index, size = int(str(proof["leaf_index"])), int(str(proof["tree_size"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"cannot be read ({type(error).__name__})"
    if leaf.hex() != proof["leaf_hash"]:
        return "the file's leaf hash is not the one in proofs.json (the file changed)"
    if root_from_proof(index, size, leaf, path) != root:
        return f"the audit path does not lead to timestamps/{day}/root.bin"
    return None


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    try:
        proofs = json.loads((folder / "timestamps" / "proofs.json").read_bytes())
    except (OSError, ValueError) as error:
        print(f"FAILED  timestamps/proofs.json cannot be read ({type(error).__name__})")
        return 1
    if not proofs:
        print("No Merkle proofs in this bundle (not anchored yet when it was exported).")
    failed = 0
    for proof in proofs:
        problem = check(folder, proof)
        where = f"{proof.get('file')} in the tree of {proof.get('day')}"
        print(f"OK      {where}" if problem is None else f"FAILED  {where}: {problem}")
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
