"""The reviewer API off loopback: TLS of its own, or the administrator's explicit word.

Real `intake api serve` processes; the certificate is made by the openssl CLI and the client
checks it against that certificate, as a reviewer's machine would against its CA.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from review.api import plain_http_refusal
from tests.support import skip_or_fail


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return {**base, "INTAKE_DATA_DIR": str(tmp_path / "data"), **more}


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "api", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


def _certificate(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        skip_or_fail("the openssl CLI is needed to make a certificate")
    cert, key = folder / "api.pem", folder / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj",
         "/CN=intake-test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    key.chmod(0o600)
    return cert, key


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "intake.example.org"])
def test_plain_http_is_refused_off_loopback(host: str) -> None:
    """Any address but loopback, over plain HTTP, without the administrator's word: refused."""
    refusal = plain_http_refusal(host, tls=False, plain_http_allowed=False)
    assert refusal is not None and "INTAKE_API_PLAIN_HTTP=true" in refusal
    assert plain_http_refusal(host, tls=True, plain_http_allowed=False) is None
    assert plain_http_refusal(host, tls=False, plain_http_allowed=True) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_needs_no_tls(host: str) -> None:
    assert plain_http_refusal(host, tls=False, plain_http_allowed=False) is None


async def test_api_serve_on_all_addresses_without_tls_stops_with_one_line(
    tmp_path: Path,
) -> None:
    """`intake api serve` on 0.0.0.0 over plain HTTP exits 1 with one line naming the three
    ways out; with INTAKE_API_PLAIN_HTTP=true it serves."""
    port = _free_port()
    env = _env(tmp_path, INTAKE_API_LISTEN=f"0.0.0.0:{port}")
    process = await _start(env)
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 1
    assert len(lines) == 1 and "refusing to serve the reviewer API on 0.0.0.0" in lines[0]
    allowed = await _start({**env, "INTAKE_API_PLAIN_HTTP": "true"})
    assert allowed.stdout is not None
    line = (await asyncio.wait_for(allowed.stdout.readline(), 60)).decode()
    assert f"reviewer API on http://0.0.0.0:{port} (plain HTTP" in line
    allowed.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(allowed.wait(), 10) == 0


async def test_api_serve_with_its_own_certificate_speaks_tls(tmp_path: Path) -> None:
    """With a certificate and key the API serves HTTPS on any address; a client that checks
    the certificate reaches it (401 without a token), plain HTTP does not."""
    cert, key = _certificate(tmp_path)
    port = _free_port()
    env = _env(tmp_path, INTAKE_API_LISTEN=f"0.0.0.0:{port}",
               INTAKE_API_TLS_CERT_FILE=str(cert), INTAKE_API_TLS_KEY_FILE=str(key))
    process = await _start(env)
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert line.strip() == f"reviewer API on https://0.0.0.0:{port}"
        checked = ssl.create_default_context(cafile=str(cert))

        def get(url: str, context: ssl.SSLContext | None) -> int:
            try:
                with urllib.request.urlopen(url, timeout=10, context=context) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert await asyncio.to_thread(get, f"https://127.0.0.1:{port}/v1/me", checked) == 401
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            await asyncio.to_thread(get, f"http://127.0.0.1:{port}/v1/me", None)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_a_tls_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """The API's private key readable by group: one line, chmod 600."""
    cert, key = _certificate(tmp_path)
    key.chmod(0o640)
    env = _env(tmp_path, INTAKE_API_LISTEN=f"0.0.0.0:{_free_port()}",
               INTAKE_API_TLS_CERT_FILE=str(cert), INTAKE_API_TLS_KEY_FILE=str(key))
    process = await _start(env)
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 1
    assert lines == [f"Error: INTAKE_API_TLS_KEY_FILE: the TLS key file {key} is open to group "
                     f"or others (mode 0640): run `chmod 600 {key}` and check who could have "
                     "copied it"]
