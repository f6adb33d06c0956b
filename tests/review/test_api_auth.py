"""The reviewer API's Must-show: no endpoint answers without valid credentials of the right role."""

from __future__ import annotations

import re

import pytest

from review.api import ROUTES, Route
from review.local import check_name
from storage import Role, Storage
from tests.review.api_support import live_api
from tests.review.sealed_reports import sealed_report

ADMIN_ROUTES = [r for r in ROUTES if r.role is Role.ADMIN]


def _route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


def _concrete(path: str, report_id: str) -> str:
    values = {"report_id": report_id, "seq": "0", "label": "urgent", "name": "nobody"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
async def test_every_endpoint_refuses_missing_or_wrong_credentials(
    storage: Storage, route: Route
) -> None:
    """No token, a malformed header, an unknown token: 401 with a JSON error, nothing changed."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        path = _concrete(route.path, report_id)
        before = await storage.audit.count()
        for headers in (
            {},
            {"Authorization": api.reviewer_token},  # no "Bearer "
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer ik_" + "A" * 43},
            {"Authorization": "Bearer " + "x" * 5000},
            {"Authorization": f"Basic {api.admin_token}"},
        ):
            status, body = await api.call(route.method, path, headers=headers, json={})
            assert status == 401, (headers, body)
            assert isinstance(body, dict) and "error" in body
        assert await storage.audit.count() == before
        assert (await storage.reports.get(report_id)).summary.status == "new"  # type: ignore[union-attr]


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=_route_id)
async def test_reviewer_credentials_are_refused_on_admin_endpoints(
    storage: Storage, route: Route
) -> None:
    """A valid reviewer token gets 403 on every admin endpoint; an admin token gets past it."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        path = _concrete(route.path, report_id)
        status, body = await api.call(route.method, path, api.reviewer_token, json={})
        assert status == 403 and "admin" in body["error"]
        status, _body = await api.call(route.method, path, api.admin_token, json={})
        assert status != 403


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
async def test_revoked_credential_stops_working_at_once(storage: Storage, route: Route) -> None:
    """Right after an admin revokes a credential, every endpoint refuses it with 401."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        status, _ = await api.call("GET", "/v1/me", api.reviewer_token)
        assert status == 200
        status, _ = await api.call("DELETE", "/v1/admin/credentials/rita", api.admin_token)
        assert status == 200
        status, body = await api.call(
            route.method, _concrete(route.path, report_id), api.reviewer_token, json={}
        )
        assert status == 401 and "revoked" in body["error"]


async def test_unknown_paths_need_credentials_too(storage: Storage) -> None:
    """An unknown path is 401 without credentials (no anonymous probing) and 404 with them."""
    async with live_api(storage) as api:
        status, body = await api.call("GET", "/v1/secret-admin-panel")
        assert status == 401 and "error" in body
        status, body = await api.call("GET", "/v1/secret-admin-panel", api.reviewer_token)
        assert status == 404 and "no such endpoint" in body["error"]
        status, body = await api.call("PATCH", "/v1/reports", api.reviewer_token)
        assert status == 405 and "GET" in body["error"]


def test_route_table_names_are_unique_and_credential_names_checked() -> None:
    """Each (method, path) appears once; credential names follow the reviewer-name rule."""
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys))
    assert check_name("rita") == "rita"
