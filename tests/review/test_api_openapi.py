"""The OpenAPI description in the repository and the routes the app registers are the same set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import review.api
from review.api import ROUTES
from review.api.app import Context, build_app
from review.audit import AuditTrail
from storage import Storage

SPEC = Path(review.api.__file__).with_name("openapi.yaml")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _documented() -> set[tuple[str, str]]:
    """(METHOD, path) pairs from the spec's `paths:` block (two-space YAML indentation)."""
    found: set[tuple[str, str]] = set()
    path: str | None = None
    in_paths = False
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        if not line.startswith(" "):
            in_paths = line.rstrip() == "paths:"
            continue
        if not in_paths:
            continue
        if match := re.fullmatch(r"  (/\S*):", line.rstrip()):
            path = match.group(1)
        elif (match := re.fullmatch(r"    (\w+):.*", line)) and match.group(1) in _METHODS:
            assert path is not None
            found.add((match.group(1).upper(), path))
    return found


def _registered() -> set[tuple[str, str]]:
    # The app is only inspected, never served, so it needs no real store behind it.
    app = build_app(ROUTES, Context(cast(Storage, None), cast(AuditTrail, None), b""))
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def test_every_registered_route_is_documented_and_vice_versa() -> None:
    """The spec lists exactly the (method, path) pairs the aiohttp app serves."""
    assert _registered() == _documented()
    assert len(_registered()) == len(ROUTES)


def test_spec_is_openapi_3_1_with_bearer_security() -> None:
    """The spec declares OpenAPI 3.1, a global bearer requirement and admin-tagged admin routes."""
    text = SPEC.read_text(encoding="utf-8")
    assert text.startswith("openapi: 3.1.0\n")
    assert "\nsecurity:\n  - bearer: []\n" in text
    for route in ROUTES:
        if route.path.startswith("/v1/admin"):
            assert route.role.value == "admin"
