"""crypto.merkle against the RFC 6962 test vectors of Certificate Transparency's Go code.

The leaf inputs, roots and inclusion proofs are copied from transparency-dev/merkle
(testonly/constants.go and proof/verify_test.go, Apache-2.0), which Trillian and the CT logs use.
"""

from __future__ import annotations

import hashlib

import pytest

from crypto import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
# Roots of the trees over the first 1..8 leaves.
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# (0-based leaf index, tree size, proof)
PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(data) for data in LEAVES[:n]]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]).hex() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_vectors(size: int) -> None:
    assert merkle.root(_hashes(size)) == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), PROOFS)
def test_inclusion_proofs_match_and_verify(index: int, size: int, proof: list[str]) -> None:
    leaves = _hashes(size)
    assert [p.hex() for p in merkle.inclusion_proof(leaves, index)] == proof
    path = [bytes.fromhex(p) for p in proof]
    assert merkle.verify_inclusion(index, size, leaves[index], path, ROOTS[size - 1])


def test_every_leaf_of_every_small_tree_proves_its_own_inclusion() -> None:
    for size in range(1, 9):
        leaves = _hashes(size)
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index)
            assert merkle.verify_inclusion(index, size, leaves[index], proof, ROOTS[size - 1])


def _corruptions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
                 ) -> dict[str, tuple[int, int, bytes, list[bytes], bytes]]:
    cases = {
        "leaf index - 1": (index - 1, size, leaf, proof, root),
        "leaf index + 1": (index + 1, size, leaf, proof, root),
        "leaf index ^ 2": (index ^ 2, size, leaf, proof, root),
        "tree size * 2": (index, size * 2, leaf, proof, root),
        "tree size / 2": (index, size // 2, leaf, proof, root),
        "wrong leaf": (index, size, b"WrongLeaf", proof, root),
        "empty root": (index, size, leaf, proof, bytes.fromhex(EMPTY_ROOT)),
        "random root": (index, size, leaf, proof, SOME_HASH),
        "trailing garbage": (index, size, leaf, [*proof, b""], root),
        "trailing root": (index, size, leaf, [*proof, root], root),
        "preceding garbage": (index, size, leaf, [b"", *proof], root),
        "preceding root": (index, size, leaf, [root, *proof], root),
        "removed component": (index, size, leaf, proof[:-1], root),
        "inserted component": (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root),
    }
    for i in range(len(proof)):
        flipped = [bytes([p[0] ^ 8]) + p[1:] if j == i else p for j, p in enumerate(proof)]
        cases[f"modified proof[{i}] bit 3"] = (index, size, leaf, flipped, root)
    return cases


@pytest.mark.parametrize(("index", "size", "proof"), PROOFS)
def test_corrupted_proofs_are_refused(index: int, size: int, proof: list[str]) -> None:
    path = [bytes.fromhex(p) for p in proof]
    leaf = _hashes(size)[index]
    accepted = [
        name for name, (i, n, lf, pr, rt)
        in _corruptions(index, size, path, ROOTS[size - 1], leaf).items()
        if merkle.verify_inclusion(i, n, lf, pr, rt)
    ]
    assert accepted == []


def test_single_leaf_tree_root_is_the_leaf_and_the_proof_is_empty() -> None:
    leaf = merkle.leaf_hash(b"data")
    assert merkle.root([leaf]) == leaf
    assert merkle.inclusion_proof([leaf], 0) == []
    assert merkle.verify_inclusion(0, 1, leaf, [], leaf)
    assert not merkle.verify_inclusion(0, 1, leaf, [], b"")
    assert not merkle.verify_inclusion(0, 1, b"", [], leaf)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (-1, 4)])
def test_indexes_outside_the_tree_are_refused(index: int, size: int) -> None:
    assert not merkle.verify_inclusion(index, size, SOME_HASH, [], SOME_HASH)


def test_proof_for_a_leaf_outside_the_tree_is_an_error() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(_hashes(3), 3)


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
