"""Trusted time and verifiable bundles: daily anchoring, the bundle's timestamp part, the verifier.

anchor.py builds each closed day's Merkle tree and has its root timestamped (tsa.py);
bundle.py adds the timestamps, the Merkle script, SHA256SUMS and VERIFY.txt to an export;
verify.py checks a bundle file by file. The format is docs/evidence-bundle.md.
"""
