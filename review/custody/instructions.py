"""The custody chain's part of VERIFY.txt: how an examiner checks the chain with standard tools.

A pure function of the bundle's files, so `intake verify` can rebuild the text and compare.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from review.custody.chain import CHAIN_FILE


def verify_lines(files: Mapping[str, bytes]) -> list[str]:
    """This part's instructions for VERIFY.txt (review.evidence.bundle.VERIFY_SECTIONS): a pure
    function of the bundle's files, so `intake verify` can rebuild the text."""
    if CHAIN_FILE not in files:
        return []
    chain = [json.loads(line) for line in files[CHAIN_FILE].decode("ascii").splitlines()]
    if not chain:
        return []
    last = chain[-1]
    lines = [
        "Chain of custody (custody/, docs/custody-chain.md of incident-intake): every event of",
        f"this report, {len(chain)} entries, ending with this export. The report's own chain",
        f"(custody/chain-NNNNNN.json) is numbered 1 to {sum('n' in line for line in chain)} "
        "without a gap, each entry naming",
        "the SHA-256 of the one before; entries from before that chain (custody/entry-*.json)",
        "are listed by SHA-256 in its first entry's \"legacy\". A missing number, a broken link",
        "or a missing legacy entry means an entry was removed or moved. Each entry is signed",
        "with the custody key and hashes to its entry_sha256 in custody/chain.jsonl:",
        "     openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin \\",
        f"       -in {last['entry_file']} -sigfile {last['signature_file']}",
        f"     sha256sum {last['entry_file']}   # {last['entry_sha256']}",
        "The export entry names this bundle: its details.disclosure is what",
        "     age-keygen -y disclosure.key",
        "prints (an older export entry has none: then nothing shows that the chain was not cut",
        "back to it from a later bundle's).",
        "custody/timeline.txt lists the same events in words. collection.txt says how each file",
        "arrived and what the witness agreed to; processing/ records how each working copy",
        "was made.",
        "",
    ]
    return lines
