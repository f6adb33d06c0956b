"""How an injected fault looks on the wire: Telegram's 429, nginx's 502, a dropped connection."""

from __future__ import annotations

import asyncio

from aiohttp import web

from standin.faults import BAD_GATEWAY_BODY, Fault, FaultKind, too_many_requests


def retry_after_response(retry_after: int) -> web.Response:
    """Telegram's 429 Too Many Requests with ``parameters.retry_after``."""
    return web.json_response(too_many_requests(retry_after), status=429)


async def drop_connection(request: web.Request) -> web.Response:
    """Close the connection with no answer at all, as a broken proxy or network would.

    Closing the transport makes aiohttp cancel this handler (``handler_cancellation``); the
    response returned after the grace period is never written to the closed transport.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
    await asyncio.sleep(5.0)
    return web.Response(status=500)


async def before_effect(request: web.Request, fault: Fault) -> web.Response | None:
    """The answer to a call that must have no effect, or ``None`` to go on with the call.

    A slow fault waits here, before the effect: if the client gives up meanwhile, the handler
    is cancelled and the call has no effect either. A drop after the effect goes on too (the
    caller drops the connection once the call has taken effect).
    """
    if fault.kind is FaultKind.RETRY_AFTER:
        return retry_after_response(fault.retry_after)
    if fault.kind is FaultKind.BAD_GATEWAY:
        return web.Response(status=502, text=BAD_GATEWAY_BODY, content_type="text/html")
    if fault.kind is FaultKind.DROP_BEFORE:
        return await drop_connection(request)
    if fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay)
    return None
