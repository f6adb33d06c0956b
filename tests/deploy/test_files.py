"""deploy/ holds together: the small and the workers setups share what a move needs, the ignore
file covers every secret and folder the README writes into deploy/, the image needs nothing
from a registry beyond its base image, and deploy/check.sh passes with the tools installed here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return loaded


def test_the_small_and_the_workers_setups_share_project_volumes_and_draft_key() -> None:
    small, workers = _compose("compose.yaml"), _compose("compose.workers.yaml")
    assert small["name"] == workers["name"] == "incident-intake"
    assert small["services"]["postgres"]["volumes"] == workers["services"]["postgres"]["volumes"]
    assert {"pgdata", "intake-data"} <= set(small["volumes"]) & set(workers["volumes"])
    assert small["secrets"]["draft_key"] == workers["secrets"]["draft_key"]
    bot = small["services"]["bot"]
    for worker in ("worker-1", "worker-2"):
        service = workers["services"][worker]
        assert service["volumes"] == bot["volumes"] == ["intake-data:/data"]
        assert service["secrets"] == ["webhook_secret", "draft_key"]
        for setting in ("INTAKE_DRAFT_KEY_FILE", "INTAKE_DATABASE_URL", "INTAKE_DATA_DIR"):
            assert service["environment"][setting] == bot["environment"][setting], setting
    assert "draft_key" in bot["secrets"]
    # Caddy's certificates and its autosaved configuration, each in a named volume.
    assert {"caddy-data:/data", "caddy-config:/config"} <= set(
        workers["services"]["proxy"]["volumes"])


def test_the_units_read_the_same_draft_key() -> None:
    for unit in ("intake.service", "intake-webhook@.service"):
        text = (DEPLOY / unit).read_text()
        assert "LoadCredential=draft.key:/etc/incident-intake/draft.key" in text, unit
        assert "Environment=INTAKE_DRAFT_KEY_FILE=%d/draft.key" in text, unit


def test_the_ignore_file_covers_every_secret_and_folder_written_into_deploy() -> None:
    ignored = {line.strip() for line in (DEPLOY / ".gitignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    secret_files = {
        secret["file"].removeprefix("./")
        for name in ("compose.yaml", "compose.workers.yaml")
        for secret in _compose(name).get("secrets", {}).values()
    }
    assert secret_files == {"draft.key", "webhook.secret"}
    assert secret_files | {".env"} <= ignored
    readme = (DEPLOY / "README.md").read_text()
    written = set(re.findall(r'"\$PWD/([a-z]+):/', readme))
    assert written == {"export", "backups"}
    assert {f"{folder}/" for folder in written} <= ignored
    assert "not in `.gitignore`" not in readme and "not in .gitignore" not in readme


def test_the_image_needs_no_registry_beyond_its_base_image() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert set(re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)) == {"python:3.11-slim"}


def test_the_check_script_passes_with_the_tools_here() -> None:
    done = subprocess.run(["sh", str(DEPLOY / "check.sh")], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode == 2:
        pytest.skip("deploy/check.sh found none of its tools here")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout


def test_the_compose_health_checks_ask_readyz_where_the_bot_answers_it() -> None:
    """The polling bot answers on INTAKE_HEALTH_LISTEN, a worker on INTAKE_WEBHOOK_LISTEN
    (bot/telegram/health.py); each check asks /readyz on that port."""
    small, workers = _compose("compose.yaml"), _compose("compose.workers.yaml")
    services = [(small["services"]["bot"], "INTAKE_HEALTH_LISTEN")] + [
        (workers["services"][name], "INTAKE_WEBHOOK_LISTEN") for name in ("worker-1", "worker-2")
    ]
    for service, setting in services:
        port = service["environment"][setting].rsplit(":", 1)[1]
        command = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in command, command
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "health_uri /healthz" in caddyfile
