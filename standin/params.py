"""Reading Bot API parameters from an HTTP request, and typed access to them.

python-telegram-bot 22 (``HTTPXRequest``) always POSTs. Without files the body is
``application/x-www-form-urlencoded``; with files it is ``multipart/form-data``. Every value
is a string: ``str`` parameters are sent as is, everything else (ints, bools, lists, and
objects like ``reply_markup``) is ``json.dumps``-ed, and ``None`` parameters are omitted.
The Bot API also accepts a JSON body and the query string, so those work too.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from standin.models import ApiError, JSONDict, UploadedFile

_UTF8_ERROR = "strings must be encoded in UTF-8"
#: Parameters that are always plain strings, never JSON-decoded.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "action",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "emoji",
    }
)


def _decode_value(name: str, value: Any) -> Any:
    """Turn a transported string into the value the bot meant (JSON where it parses)."""
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    try:
        decoded = json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        return value
    # A bare JSON string ("\"abc\"") means the string itself; numbers, bools, lists, objects
    # are the typed value PTB json.dumps-ed.
    return decoded


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


async def read_params(request: web.Request) -> JSONDict:
    """All parameters of a Bot API request: query string, then body (body wins)."""
    raw: dict[str, Any] = {}
    for key, value in request.query.items():
        raw.setdefault(key, value)
    content_type = request.content_type
    if content_type == "multipart/form-data":
        raw.update(await _read_multipart(request))
    elif request.can_read_body:
        body = await request.read()
        if body:
            raw.update(_parse_body(body, content_type))
    return {name: _decode_value(name, value) for name, value in raw.items()}


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    if content_type == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ApiError.bad_request(_UTF8_ERROR) from exc
        except ValueError as exc:
            raise ApiError.bad_request("can't parse JSON object") from exc
        if not isinstance(data, dict):
            raise ApiError.bad_request("can't parse JSON object")
        return {str(k): v for k, v in data.items() if v is not None}
    if content_type in ("application/x-www-form-urlencoded", "", "application/octet-stream"):
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise ApiError.bad_request(_UTF8_ERROR) from exc
        except ValueError as exc:
            raise ApiError.bad_request("can't parse request body") from exc
        return dict(pairs)
    return {}


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            data = bytes(await part.read(decode=True))
            if part.filename is not None:
                content_type = part.headers.get("Content-Type")
                values[part.name] = UploadedFile(part.name, part.filename, content_type, data)
            else:
                values[part.name] = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError.bad_request(_UTF8_ERROR) from exc
    except web.HTTPException:
        raise
    except Exception as exc:  # aiohttp raises assorted errors on broken multipart bodies
        raise ApiError.bad_request("can't parse multipart/form-data request") from exc
    return values


class Params:
    """Typed, validating access to decoded parameters; failures become 400 ApiErrors."""

    def __init__(self, values: JSONDict) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        """Whether ``name`` was sent."""
        return name in self.values

    def str_(self, name: str, *, required: bool = False, missing: str | None = None) -> str | None:
        """A string parameter (numbers are accepted and converted, as Telegram does)."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise ApiError.bad_request(missing or f'parameter "{name}" is required')
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ApiError.bad_request(f'field "{name}" must be of type String')
        return str(value)

    def int_(self, name: str, *, required: bool = False, missing: str | None = None) -> int | None:
        """An integer parameter (a decimal string is accepted)."""
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise ApiError.bad_request(missing or f'parameter "{name}" is required')
            return None
        if isinstance(value, bool):
            raise ApiError.bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ApiError.bad_request(f'field "{name}" must be of type Integer')

    def req_int(self, name: str, missing: str | None = None) -> int:
        """A required integer parameter."""
        value = self.int_(name, required=True, missing=missing)
        assert value is not None
        return value

    def bool_(self, name: str) -> bool:
        """A boolean flag; absent means ``False``."""
        value = self.values.get(name)
        if value is None or value is False or value == 0:
            return False
        if value is True or value == 1:
            return True
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0", ""):
            return value.strip().lower() in ("true", "1")
        raise ApiError.bad_request(f'field "{name}" must be of type Boolean')

    def float_(self, name: str, *, required: bool = False) -> float | None:
        """A float parameter."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise ApiError.bad_request(f'parameter "{name}" is required')
            return None
        if isinstance(value, bool):
            raise ApiError.bad_request(f'field "{name}" must be of type Float')
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ApiError.bad_request(f'field "{name}" must be of type Float') from exc
        if not math.isfinite(number):
            raise ApiError.bad_request(f'field "{name}" must be of type Float')
        return number

    def json_(self, name: str, error: str | None = None) -> Any:
        """A JSON-valued parameter (already decoded by :func:`read_params` when it parsed)."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ApiError.bad_request(error or f'can\'t parse "{name}" JSON object') from exc
        return value

    def int_list(self, name: str, *, error: str) -> list[int]:
        """A required JSON array of integers (e.g. ``message_ids``)."""
        value = self.json_(name, error)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ApiError.bad_request(error)
        return list(value)
