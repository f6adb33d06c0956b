"""Interoperability with the reference ``age`` / ``age-keygen`` command-line tools."""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto import (
    CHUNK_SIZE,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    encrypt,
    generate_identity,
    open_sealed,
    parse_identities,
    parse_recipient,
    rewrap,
    seal,
    split_header,
)

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
MISSING_REASON = "Debian's age CLI not installed (apt-get install age)"
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 1024 * 1024]
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def _require_age() -> None:
    if AGE is None or AGE_KEYGEN is None:
        if os.environ.get("INTAKE_TEST_STRICT") == "1":
            pytest.fail(f"{MISSING_REASON}; INTAKE_TEST_STRICT=1 forbids skipping", pytrace=False)
        pytest.skip(MISSING_REASON)


@dataclass
class CliKey:
    path: Path
    public: str
    identity: X25519Identity


@pytest.fixture(scope="module")
def cli_keys(tmp_path_factory: pytest.TempPathFactory) -> list[CliKey]:
    """Three key pairs made by age-keygen, parsed by us."""
    directory = tmp_path_factory.mktemp("keys")
    keys = []
    for n in range(3):
        path = directory / f"key{n}.txt"
        subprocess.run([str(AGE_KEYGEN), "-o", str(path)], check=True, capture_output=True)
        public = subprocess.run(
            [str(AGE_KEYGEN), "-y", str(path)], check=True, capture_output=True, text=True
        ).stdout.strip()
        (identity,) = parse_identities(path.read_text())
        assert isinstance(identity, X25519Identity)
        keys.append(CliKey(path, public, identity))
    return keys


@pytest.fixture(scope="module")
def random_data() -> bytes:
    return os.urandom(max(SIZES))


def age(*args: str, stdin: bytes = b"") -> bytes:
    result = subprocess.run([str(AGE), *args], input=stdin, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def age_fails(*args: str) -> bool:
    return subprocess.run([str(AGE), *args], capture_output=True, timeout=120).returncode != 0


def test_age_keygen_files_parse(cli_keys: list[CliKey]) -> None:
    """age-keygen identity files (with their comment lines) parse to the same public keys."""
    for key in cli_keys:
        text = key.path.read_text()
        assert text.startswith("# created: ") and f"# public key: {key.public}" in text
        assert str(key.identity.recipient) == key.public
        assert parse_recipient(key.public) == key.identity.recipient
    combined = "\n".join(k.path.read_text() for k in cli_keys)
    assert [str(i) for i in parse_identities(combined)] == [str(k.identity) for k in cli_keys]


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_age_opens_what_we_seal(
    cli_keys: list[CliKey], random_data: bytes, tmp_path: Path, size: int, count: int
) -> None:
    """`age -d -i KEY` decrypts header + payload from seal(), for every recipient."""
    data = random_data[:size]
    keys = cli_keys[:count]
    payload = io.BytesIO()
    header = seal(io.BytesIO(data), payload, [k.identity.recipient for k in keys])
    sealed = tmp_path / "report.age"
    sealed.write_bytes(header + payload.getvalue())
    for key in keys:
        assert age("-d", "-i", str(key.path), str(sealed)) == data


@pytest.mark.parametrize("armored", [False, True])
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_we_open_what_age_encrypts(
    cli_keys: list[CliKey],
    random_data: bytes,
    tmp_path: Path,
    size: int,
    count: int,
    armored: bool,
) -> None:
    """decrypt() opens `age -r ...` output (binary and -a) with each recipient's key file."""
    data = random_data[:size]
    keys = cli_keys[:count]
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    recipient_args = [arg for k in keys for arg in ("-r", k.public)]
    ciphertext = age(*recipient_args, *(["-a"] if armored else []), str(plain))
    for key in keys:
        out = io.BytesIO()
        decrypt(io.BytesIO(ciphertext), out, parse_identities(key.path.read_text()))
        assert out.getvalue() == data
    if not armored:
        # The same file through the detached-header API.
        header, offset = split_header(ciphertext[:4096])
        out = io.BytesIO()
        open_sealed(header, io.BytesIO(ciphertext[offset:]), out, [keys[-1].identity])
        assert out.getvalue() == data


def test_age_opens_our_armored_file(cli_keys: list[CliKey], tmp_path: Path) -> None:
    """`age -d` accepts the ASCII armor that encrypt(armor=True) writes."""
    data = os.urandom(3 * CHUNK_SIZE + 5)
    out = io.BytesIO()
    encrypt(io.BytesIO(data), out, [cli_keys[0].identity.recipient], armor=True)
    armored = tmp_path / "report.age.asc"
    armored.write_bytes(out.getvalue())
    assert age("-d", "-i", str(cli_keys[0].path), str(armored)) == data


def test_age_opens_rewrapped_file(cli_keys: list[CliKey], tmp_path: Path) -> None:
    """After rewrap the new key opens the file with age, the dropped one cannot."""
    data = os.urandom(CHUNK_SIZE + 10)
    payload = io.BytesIO()
    header = seal(io.BytesIO(data), payload, [cli_keys[0].identity.recipient])
    new_header = rewrap(header, [cli_keys[0].identity], [cli_keys[1].identity.recipient])
    path = tmp_path / "rewrapped.age"
    path.write_bytes(new_header + payload.getvalue())
    assert age("-d", "-i", str(cli_keys[1].path), str(path)) == data
    assert age_fails("-d", "-i", str(cli_keys[0].path), str(path))


# --- passphrases (age reads them from a terminal only) ---------------------------


def run_in_pty(argv: list[str], answers: list[bytes], timeout: float = 120) -> tuple[int, bytes]:
    """Run ``argv`` on a fresh pseudo-terminal, typing one answer per passphrase prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is now its controlling terminal (/dev/tty)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, 9)
                raise TimeoutError(output.decode(errors="replace"))
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if answered < len(answers) and output.count(b"passphrase") > answered:
                os.write(fd, answers[answered] + b"\n")
                answered += 1
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_age_opens_our_passphrase_file(tmp_path: Path) -> None:
    """`age -d` (passphrase typed on a pty) opens a file sealed with ScryptRecipient."""
    out = io.BytesIO()
    encrypt(io.BytesIO(b"witness report"), out, [ScryptRecipient(PASSPHRASE, work_factor=15)])
    sealed = tmp_path / "pass.age"
    sealed.write_bytes(out.getvalue())
    target = tmp_path / "opened"
    code, transcript = run_in_pty([str(AGE), "-d", "-o", str(target), str(sealed)], [PASSPHRASE])
    assert code == 0, transcript
    assert target.read_bytes() == b"witness report"


def test_we_open_age_passphrase_file(tmp_path: Path) -> None:
    """ScryptIdentity opens a file made by `age -p` (passphrase typed twice on a pty)."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"from the age CLI")
    sealed = tmp_path / "pass.age"
    code, transcript = run_in_pty(
        [str(AGE), "-p", "-o", str(sealed), str(plain)], [PASSPHRASE, PASSPHRASE]
    )
    assert code == 0, transcript
    assert b"-> scrypt " in sealed.read_bytes()
    out = io.BytesIO()
    decrypt(io.BytesIO(sealed.read_bytes()), out, [ScryptIdentity(PASSPHRASE)])
    assert out.getvalue() == b"from the age CLI"


def test_age_refuses_tampering_we_refuse(cli_keys: list[CliKey], tmp_path: Path) -> None:
    """A payload bit flip is refused by age too, so our seal is not weaker than age's."""
    payload = io.BytesIO()
    header = seal(
        io.BytesIO(b"x" * 100),
        payload,
        [generate_identity().recipient, cli_keys[0].identity.recipient],
    )
    bad = bytearray(header + payload.getvalue())
    bad[-5] ^= 1
    path = tmp_path / "bad.age"
    path.write_bytes(bytes(bad))
    assert age_fails("-d", "-i", str(cli_keys[0].path), str(path))
