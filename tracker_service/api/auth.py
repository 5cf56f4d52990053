"""The optional API key, and console sessions that keep it out of URLs.

API clients send the key in a header (`X-API-Key` or `Authorization: Bearer`). Browsers cannot
set headers on `<img>`, `<video>` or WebSocket URLs, and a key in a URL ends up in logs,
history and Referer headers. So the console logs in once (`POST /v1/session` with the key) and
gets an HttpOnly, SameSite=Strict cookie holding a short-lived token signed with a secret
derived from the key: changing the key ends every session, and no session state is stored.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, WebSocketException
from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import HTTPConnection

from tracker_service.api.errors import ApiError

SESSION_COOKIE = "tracker_session"
_SALT = "tracker-service.console-session"

router = APIRouter(tags=["session"])


def _expected_key(connection: HTTPConnection) -> str | None:
    key: str | None = connection.app.state.config.service.api_key
    return key


def _signer(api_key: str) -> TimestampSigner:
    return TimestampSigner(api_key, salt=_SALT)


def _header_key(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("x-api-key")
    if header:
        return header.strip()
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _key_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def _session_valid(connection: HTTPConnection, expected: str) -> bool:
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    ttl = connection.app.state.config.service.session_ttl_s
    try:
        _signer(expected).unsign(token, max_age=ttl)
    except BadSignature:  # also an expired one (SignatureExpired)
        return False
    return True


def require_api_key(connection: HTTPConnection) -> None:
    """The key in a header, or a valid console session; nothing when no key is set."""
    expected = _expected_key(connection)
    if not expected:
        return
    presented = _header_key(connection)
    if presented is not None and _key_matches(presented, expected):
        return
    if presented is None and _session_valid(connection, expected):
        return
    if connection.scope["type"] == "websocket":
        raise WebSocketException(code=1008, reason="missing or wrong API key")
    raise ApiError(
        401,
        "unauthorized",
        "missing or wrong API key (send X-API-Key or Authorization: Bearer, or log in with "
        "POST /v1/session)",
        headers={"WWW-Authenticate": "Bearer"},
    )


@router.post("/session", status_code=204, summary="Log in: a session cookie for the console")
def open_session(
    request: Request,
    response: Response,
    api_key: Annotated[str | None, Body(embed=True, max_length=1024)] = None,
) -> None:
    """Send the key (JSON `{"api_key": ...}` or a header); answers with an HttpOnly cookie
    that the console's requests, media and WebSocket URLs carry instead of the key."""
    expected = _expected_key(request)
    if not expected:
        return  # no key to check: nothing to remember either
    presented = api_key.strip() if api_key else _header_key(request)
    if presented is None or not _key_matches(presented, expected):
        raise ApiError(401, "unauthorized", "wrong API key")
    token = _signer(expected).sign(secrets.token_urlsafe(16)).decode()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=round(request.app.state.config.service.session_ttl_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.delete("/session", status_code=204, summary="Log out: forget the session cookie")
def close_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
