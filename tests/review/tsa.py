"""A real RFC 3161 Time-Stamp Authority for tests: `openssl ts -reply` behind a small HTTP server.

`make_tsa_pki` has openssl make a test CA and a TSA certificate (critical extendedKeyUsage
timeStamping) and writes the openssl config `ts -reply` reads. `LocalTsa` serves POSTed
timestamp queries on 127.0.0.1 by running openssl on each; it can be stopped and started again
on the same port, to play an authority that is down for a while.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.support import skip_or_fail

_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = test_tsa
[ test_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class TsaPki:
    folder: Path
    config: Path
    ca_cert: Path
    tsa_cert: Path


def openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        skip_or_fail("openssl is not installed")
        raise AssertionError("unreachable")
    return found


def _run(*args: str) -> None:
    subprocess.run([openssl(), *args], check=True, capture_output=True, timeout=60)


def make_tsa_pki(folder: Path, tsa_days: int = 3650, name: str = "test") -> TsaPki:
    """`tsa_days`: how long the TSA certificate is valid (1: an authority whose certificate
    expires tomorrow, for renewal)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "openssl.cnf"
    config.write_text(_CONFIG.format(dir=folder))
    (folder / "serial").write_text("01\n")
    ca_key, ca, tsa_key, csr, tsa = (folder / n for n in
                                     ("ca.key", "ca.pem", "tsa.key", "tsa.csr", "tsa.pem"))
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca), "-days", "3650", "-config", str(config),
         "-subj", f"/CN=incident-intake {name} CA", "-extensions", "ca_ext")
    _run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tsa_key), "-out", str(csr), "-config", str(config),
         "-subj", f"/CN=incident-intake {name} TSA")
    _run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(tsa), "-days", str(tsa_days), "-extfile", str(config),
         "-extensions", "tsa_ext")
    return TsaPki(folder, config, ca, tsa)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalTsa:
    """`await tsa.start()`, POST queries to `tsa.url`, `await tsa.stop()`; restartable."""

    def __init__(self, pki: TsaPki, port: int | None = None) -> None:
        self.pki = pki
        self.port = port or free_port()
        self.requests = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    async def _reply(self, request: web.Request) -> web.Response:
        self.requests += 1
        query = await request.read()
        with tempfile.TemporaryDirectory() as work:
            query_file, reply_file = Path(work, "q.tsq"), Path(work, "r.tsr")
            query_file.write_bytes(query)
            process = await asyncio.create_subprocess_exec(
                openssl(), "ts", "-reply", "-config", str(self.pki.config),
                "-queryfile", str(query_file), "-out", str(reply_file),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            if await process.wait() != 0:
                return web.Response(status=500)
            return web.Response(body=reply_file.read_bytes(),
                                content_type="application/timestamp-reply")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/tsa", self._reply)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture(scope="session")
def tsa_pki(tmp_path_factory: pytest.TempPathFactory) -> TsaPki:
    """A test CA and TSA certificate, made once per session by openssl."""
    return make_tsa_pki(tmp_path_factory.mktemp("tsa-pki"))


@pytest.fixture
async def local_tsa(tsa_pki: TsaPki) -> AsyncIterator[LocalTsa]:
    """A running local TSA; tests may stop and start it again."""
    tsa = LocalTsa(tsa_pki)
    await tsa.start()
    try:
        yield tsa
    finally:
        await tsa.stop()
