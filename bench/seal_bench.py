"""How much does crypto.seal cost over raw ChaCha20-Poly1305, and over `age` per report?

Run: .venv/bin/python bench/seal_bench.py   (not part of the test suite)

"raw" is the lower bound for any AEAD-based format: the same bytes through
ChaCha20Poly1305.encrypt, once in one call and once in 64 KiB chunks. seal()
adds the per-file X25519 wrap, HKDF, header MAC and STREAM framing on top.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import crypto

KiB, MiB = 1024, 1024 * 1024


def best_of(fn: Callable[[], object], *, repeat: int, number: int) -> float:
    """Best mean seconds per call over ``repeat`` runs of ``number`` calls."""
    fn()  # warm-up: imports, OpenSSL init, allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def raw_one_shot(key: bytes, data: bytes) -> Callable[[], object]:
    aead = ChaCha20Poly1305(key)
    nonce = os.urandom(12)
    return lambda: aead.encrypt(nonce, data, None)


def raw_chunked(key: bytes, data: bytes) -> Callable[[], object]:
    def run() -> list[bytes]:
        aead = ChaCha20Poly1305(key)
        view = memoryview(data)
        return [
            aead.encrypt(i.to_bytes(12, "big"), view[off : off + crypto.CHUNK_SIZE], None)
            for i, off in enumerate(range(0, max(len(data), 1), crypto.CHUNK_SIZE))
        ]

    return run


def ours(data: bytes, recipients: list[crypto.X25519Recipient]) -> Callable[[], object]:
    return lambda: crypto.seal(io.BytesIO(data), io.BytesIO(), recipients)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.1f} µs"
    return f"{seconds * 1e3:9.2f} ms"


def main() -> None:
    key = os.urandom(32)
    recipients = [crypto.generate_identity().recipient]
    cases = [
        ("1 KiB report", os.urandom(KiB), 7, 2000),
        ("20 MiB file", os.urandom(20 * MiB), 7, 3),
    ]
    print(f"{'payload':<14}{'method':<28}{'time':>12}{'ours/raw':>10}")
    print("-" * 64)
    for label, data, repeat, number in cases:
        t_one = best_of(raw_one_shot(key, data), repeat=repeat, number=number)
        t_chunk = best_of(raw_chunked(key, data), repeat=repeat, number=number)
        t_ours = best_of(ours(data, recipients), repeat=repeat, number=number)
        ratio = f"{t_ours / t_one:.2f}x / {t_ours / t_chunk:.2f}x"
        rows = [
            ("raw ChaCha20Poly1305 1 call", t_one, ""),
            ("raw ChaCha20Poly1305 64 KiB", t_chunk, ""),
            ("crypto.seal (1 recipient)", t_ours, ratio),
        ]
        for name, seconds, ratio in rows:
            print(f"{label:<14}{name:<28}{fmt(seconds):>12}  {ratio}")
        mib_s = len(data) / t_ours / MiB
        print(f"{'':<14}{'(seal throughput)':<28}{mib_s:>9.0f} MiB/s")
    print("ratio column: vs one-shot / vs chunked raw")

    three = [crypto.generate_identity().recipient for _ in range(3)]
    report = os.urandom(KiB)
    t_three = best_of(ours(report, three), repeat=7, number=1000)
    print(f"\n1 KiB report, 3 recipients: crypto.seal {fmt(t_three).strip()}")

    age = shutil.which("age")
    if age is None:
        print("age CLI not on PATH: skipping the subprocess comparison")
        return
    args = [age, *[a for r in three for a in ("-r", str(r))]]
    t_age = best_of(
        lambda: subprocess.run(args, input=report, capture_output=True, check=True),
        repeat=5,
        number=20,
    )
    print(
        f"1 KiB report, 3 recipients: `age -r` subprocess {fmt(t_age).strip()} "
        f"({t_age / t_three:.0f}x slower than in-process seal)"
    )


if __name__ == "__main__":
    main()
