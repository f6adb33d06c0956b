"""deploy/Caddyfile in the real Caddy (Debian 12's 2.6.2 here): its log filter keeps Telegram's
secret header and any Authorization out of every log line, and a worker that is down costs one
delivery, not every worker."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import skip_or_fail

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"
SECRET = "telegram-secret-0123456789abcdef0123456789"
BEARER = "Bearer authorization-0123456789abcdef"


def _caddy() -> str:
    caddy = shutil.which("caddy")
    if caddy is None:
        skip_or_fail("caddy is not installed (apt-get install caddy)")
        raise AssertionError("unreachable")
    return caddy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Worker(http.server.BaseHTTPRequestHandler):
    """Stands in for a webhook worker: 200 for a request carrying the secret and its body."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.headers.get("X-Telegram-Bot-Api-Secret-Token") == SECRET and body.startswith(
            b'{"update_id"'
        )
        self.send_response(200 if ok else 400)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _DyingWorker(_Worker):
    """A worker that is alive for the health check and dies in the middle of a delivery."""

    def do_POST(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


@pytest.fixture
def live_worker() -> Iterator[int]:
    yield from _serve(_Worker)


@pytest.fixture
def dying_worker() -> Iterator[int]:
    yield from _serve(_DyingWorker)


def _environment(tmp_path: Path, front: int, workers: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "INTAKE_PUBLIC_HOST": f"http://127.0.0.1:{front}", "INTAKE_WORKERS": workers,
    }


def _deliver(front: int, path: str = "/telegram") -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{front}{path}", data=b'{"update_id": 7, "message": {}}',
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Authorization": BEARER,
                 "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _run_caddy(
    config: Path, tmp_path: Path, live: int, deliveries: int, other: int | None = None,
    paths: tuple[str, ...] = ("/telegram",),
) -> tuple[list[int], str]:
    """Deliveries through Caddy to `live` and `other` (default: a port where nothing listens,
    a worker that is down)."""
    front, dead = _free_port(), other or _free_port()
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "caddy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_caddy(), "run", "--config", str(config), "--adapter", "caddyfile"],
            env=_environment(tmp_path, front, f"127.0.0.1:{dead} 127.0.0.1:{live}"),
            stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60  # starting, on a busy machine
            while True:
                try:
                    socket.create_connection(("127.0.0.1", front), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and process.poll() is None, log.read_text()
                    time.sleep(0.1)
            statuses = [_deliver(front, paths[n % len(paths)]) for n in range(deliveries)]
        finally:
            process.terminate()
            process.wait(10)
    return statuses, log.read_text()


def test_the_adapted_config_filters_both_headers_from_every_log(tmp_path: Path) -> None:
    adapted = subprocess.run(
        [_caddy(), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=_environment(tmp_path, 8443, "worker-1:8080 worker-2:8080"),
        capture_output=True, text=True, check=True,
    )
    config = json.loads(adapted.stdout)
    encoder = config["logging"]["logs"]["default"]["encoder"]
    assert encoder["format"] == "filter"
    fields = encoder["fields"]
    assert fields["request>headers>X-Telegram-Bot-Api-Secret-Token"] == {"filter": "delete"}
    assert fields["request>headers>Authorization"] == {"filter": "delete"}
    # Only the default log exists (every logger writes to it), and no server has an access log.
    assert list(config["logging"]["logs"]) == ["default"]
    for server in config["apps"]["http"]["servers"].values():
        assert "logs" not in server
    assert config["admin"] == {"disabled": True}


def test_a_worker_down_is_left_out(tmp_path: Path, live_worker: int) -> None:
    """With one of two workers down, at most the first delivery fails (before the health check
    or the failure leaves that worker out); the rest reach the live one; no secret is logged."""
    statuses, log = _run_caddy(CADDYFILE, tmp_path, live_worker, 8)
    assert statuses.count(200) >= 7 and set(statuses) <= {200, 502}, statuses
    assert SECRET not in log and "authorization-0123" not in log


def test_a_worker_dying_mid_delivery_leaves_no_secret_in_caddys_log(
    tmp_path: Path, live_worker: int, dying_worker: int
) -> None:
    """A worker that passes the health check and drops a delivery: Caddy answers that one 502
    and logs it with its request, without the secret or the Authorization; the rest reach the
    live worker. The same run without the filter prints the secret (the check can fail)."""
    statuses, log = _run_caddy(CADDYFILE, tmp_path, live_worker, 8, dying_worker)
    assert statuses.count(502) == 1 and statuses.count(200) == 7, statuses
    assert '"request"' in log  # the failed delivery was logged, with its request
    assert SECRET not in log and "authorization-0123" not in log

    unfiltered = tmp_path / "Caddyfile.unfiltered"
    text = CADDYFILE.read_text()
    start, end = text.index("\tlog {"), text.index("\n\t}\n", text.index("\tlog {"))
    unfiltered.write_text(text[:start] + text[end + len("\n\t}\n"):])
    _, log = _run_caddy(unfiltered, tmp_path / "control", live_worker, 2, dying_worker)
    assert SECRET in log


def test_channels_own_bots_paths_pass_and_nothing_else(tmp_path: Path, live_worker: int) -> None:
    """/telegram and /telegram/<tag> (a channel's own bot) reach the workers; a path beside
    them does not."""
    statuses, _log = _run_caddy(CADDYFILE, tmp_path, live_worker, 6, live_worker,
                                paths=("/telegram", "/telegram/0123456789abcdef", "/telegramx"))
    assert statuses == [200, 200, 404] * 2, statuses
