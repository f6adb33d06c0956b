"""What was exported to one Uwazi collection, so that a later export holds only what is new.

Uwazi's CSV import creates a new entity for every row; only a row carrying Uwazi's own entity
id (`id`, a sharedId we never know) updates one (importEntity.ts). So exporting the whole
queue again next week would make every entity twice. The ledger records, per destination,
each exported report's fingerprint (a SHA-256 of its row and files); the next export leaves
out every report whose fingerprint is unchanged, and carries new reports and reports that
changed (an addition, a new status) as new entities with the same public id.

The ledger lists report ids and hashes of decrypted content, so it is sealed (age) to the
reviewer's own X25519 key, like the monitoring cache, and written only once the package is.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import crypto
from review.monitoring.cache import own_recipients

LAYOUT = "incident-intake/uwazi-ledger/v1"


def default_ledger(queue: str, destination: str) -> Path:
    """One ledger per queue and destination, under the user's data folder."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    digest = hashlib.sha256(f"{queue}\n{destination}".encode()).hexdigest()[:16]
    return base / "incident-intake" / f"uwazi-{digest}.age"


def load_ledger(path: Path, identities: Sequence[crypto.Identity]) -> dict[str, str]:
    """Report id -> fingerprint last exported; empty if there is none yet.

    A ledger that exists but does not open is an error, not "nothing exported": treating it as
    empty would export everything again.
    """
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        return {}
    header, offset = crypto.split_header(sealed)
    data = json.loads(crypto.open_bytes(header, sealed[offset:], list(identities)))
    if data.get("layout") != LAYOUT:
        raise ValueError(f"{path} is not an export ledger")
    return {str(k): str(v) for k, v in data["exported"].items()}


def save_ledger(
    path: Path, exported: dict[str, str], identities: Sequence[crypto.Identity]
) -> None:
    plain = json.dumps({"layout": LAYOUT, "exported": exported}, sort_keys=True).encode()
    header, payload = crypto.seal_bytes(plain, own_recipients(identities))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".ledger-", suffix=".age")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(header + payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
