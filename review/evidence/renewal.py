"""Renewal (the RFC 4998 idea): timestamps age, so the chain is timestamped again.

An RFC 3161 token proves its time only while its authority's certificate is valid: after that,
whoever holds the authority's old key could sign any time. A renewal is a Merkle tree (RFC 6962)
whose leaves are, for each token of each of the channel's anchored trees, SHA-256(0x00 || the
tree's root || the token) and the same over the previous renewal's root and token (a chain),
timestamped again by an authority. A token whose certificate has expired since still proves its
time when a renewal made before that expiry covers it, and that renewal still proves its own
time (its certificate valid, or itself renewed in time). `intake evidence renew` makes one per
channel; run it well before an authority's certificate expires (docs/evidence-bundle.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crypto import merkle
from review.evidence.tsa import TsaConfig, TsaFailure
from storage.evidence import DayRecord, EvidenceRepository
from storage.models import LEGACY_TREE
from storage.renewals import RenewalRecord, RenewalRepository

RENEWALS = "timestamps/renewals"


def leaf(root: bytes, token: bytes) -> str:
    """The leaf a renewal holds for a root and one token over it (hex)."""
    return merkle.leaf_hash(root + token).hex()


@dataclass
class RenewRun:
    renewed: list[tuple[str, int]] = field(default_factory=list)  # (channel, renewal number)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (channel, failure kind)


def renewal_leaves(trees: Sequence[DayRecord], previous: RenewalRecord | None) -> list[str]:
    """A channel's next renewal's leaves, in tree order: every token of every tree, and the
    previous renewal's token (so the chain holds even when a tree is gone from the list)."""
    leaves = {leaf(bytes.fromhex(tree.root), token.response)
              for tree in trees for token in tree.tokens}
    if previous is not None:
        leaves.add(leaf(bytes.fromhex(previous.root), previous.response))
    return sorted(leaves)


async def renew(
    evidence: EvidenceRepository, renewals: RenewalRepository, tsas: Sequence[TsaConfig]
) -> RenewRun:
    """Timestamp every channel's chain again: one new renewal per channel with anchored trees."""
    import aiohttp

    from review.evidence.tsa import request_timestamp

    run = RenewRun()
    trees = [tree for tree in await evidence.days() if tree.anchored]
    async with aiohttp.ClientSession() as session:
        for channel in sorted({tree.channel for tree in trees}):
            chain = await renewals.chain(channel)
            previous = chain[-1] if chain else None
            leaves = renewal_leaves([t for t in trees if t.channel == channel], previous)
            root = merkle.root([bytes.fromhex(h) for h in leaves])
            failures = []
            for tsa in tsas:
                try:
                    stamp = await request_timestamp(session, tsa, root)
                except TsaFailure as failure:
                    failures.append(failure.kind)
                    continue
                seq = previous.seq + 1 if previous else 1
                if await renewals.add(RenewalRecord(
                        channel, seq, root.hex(), tuple(leaves), stamp.tsa, stamp.response,
                        stamp.ca_pem, stamp.gen_time)):
                    run.renewed.append((channel, seq))
                break
            else:
                run.failed.append((channel, failures[0] if failures else "no_authority"))
    return run


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def renewal_files(
    chain: Sequence[RenewalRecord], trees: Sequence[DayRecord]
) -> dict[str, bytes]:
    """timestamps/renewals/ for a bundle: the renewals of the chain that cover a token of
    `trees` (the bundle's days) or a renewal already included, each with the inclusion proof
    of every such root and token. Trees built before trees were per channel have their own
    chain, in folders named all-N."""
    wanted: dict[str, list[str]] = {}
    for tree in trees:
        for n, token in enumerate(tree.tokens, start=1):
            folder = f"timestamps/{tree.day.isoformat()}"
            wanted[leaf(bytes.fromhex(tree.root), token.response)] = [
                f"{folder}/root.bin", f"{folder}/tsa-{n}.tsr"]
    files: dict[str, bytes] = {}
    for renewal in chain:
        covers = []
        for index, leaf_hash in enumerate(renewal.leaves):
            if leaf_hash in wanted:
                path = merkle.inclusion_proof([bytes.fromhex(h) for h in renewal.leaves], index)
                covers.append({"files": wanted[leaf_hash], "leaf_index": index,
                               "path": [p.hex() for p in path]})
        if not covers:
            continue
        name = f"all-{renewal.seq}" if renewal.channel == LEGACY_TREE else str(renewal.seq)
        folder = f"{RENEWALS}/{name}"
        files[f"{folder}/root.bin"] = bytes.fromhex(renewal.root)
        files[f"{folder}/renewal.tsr"] = renewal.response
        files[f"{folder}/renewal-ca.pem"] = renewal.ca_pem
        files[f"{folder}/renewal.json"] = _json({
            "renewal": renewal.seq, "root": renewal.root, "leaf_count": len(renewal.leaves),
            "authority": renewal.tsa, "gen_time": renewal.gen_time.isoformat(),
            "covers": covers})
        wanted[leaf(bytes.fromhex(renewal.root), renewal.response)] = [
            f"{folder}/root.bin", f"{folder}/renewal.tsr"]
    return files


def renewal_folders(names: Iterable[str]) -> list[str]:
    """The bundle's renewal folders, in chain order."""
    folders = {n.rsplit("/", 1)[0] for n in names
               if n.startswith(f"{RENEWALS}/") and n.endswith("/renewal.json")}

    def order(folder: str) -> tuple[bool, int, str]:
        name = folder.rsplit("/", 1)[1]
        number = name.removeprefix("all-")
        return name.startswith("all-"), int(number) if number.isdigit() else 0, name

    return sorted(folders, key=order)


def verify_lines(files: Mapping[str, bytes]) -> list[str]:
    """VERIFY.txt's renewal step (from file names alone)."""
    folders = renewal_folders(files)
    if not folders:
        return []
    lines = [
        "6. Renewal. A token proves its time only while its authority's certificate is valid.",
        "   Each timestamps/renewals/N/ is a later Merkle tree over the day's root followed by",
        "   its token (and over the previous renewal's root and token), timestamped again",
        "   before that certificate expired; renewal.json holds the inclusion proofs (its",
        "   \"covers\"). The leaf of a root and its token is, for example",
        "     (printf '\\000'; cat ROOT.bin TOKEN.tsr) | sha256sum",
        "   and each renewal's own token is checked like the daily ones, against tsa-ca.pem:",
    ]
    for folder in folders:
        lines += [f"     openssl ts -verify -in {folder}/renewal.tsr \\",
                  f"       -data {folder}/root.bin -CAfile tsa-ca.pem"]
    lines += [
        "   An expired authority's daily token then fails `openssl ts -verify` by itself; check",
        "   it as of its own time with -attime (seconds since 1970 of its gen_time), and that",
        "   the renewal's time is before that certificate's notAfter:",
        "     openssl ts -reply -in TOKEN.tsr -token_out | openssl pkcs7 -inform DER \\",
        "       -print_certs | openssl x509 -noout -enddate",
        "   `intake verify` does all of this and prints each renewed proof as renewed.", ""]
    return lines
