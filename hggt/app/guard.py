"""The gate every request passes before the app sees it (a plain ASGI middleware, so that it runs
before anything reads the body):

1. the Host header must name this server: an IP address, localhost, the bind address or a
   configured name; a page on another name that resolves here (DNS rebinding) is refused;
2. /api/ calls must carry a valid token, checked before a byte of the body is read, so a request
   without one costs nothing whatever it sends;
3. state-changing calls must come from this origin, as JSON, and be small (a vote is ~100 bytes);
4. every response, refusals included, carries the security headers.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
MAX_BODY = 16 * 1024


class HostRule:
    """Which Host header values name this server."""

    def __init__(self, bind: str = "127.0.0.1", allowed: Iterable[str] = ()):
        self.names = {"localhost", *(h.lower() for h in allowed)}
        if not _is_ip(bind):
            self.names.add(bind.lower())

    def allows(self, host: str | None) -> bool:
        if not host:
            return False
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return _is_ip(name) or name in self.names


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Guard:
    def __init__(self, app, hosts: HostRule, annotator_for: Callable[[str | None], str | None],
                 is_admin: Callable[[str | None], bool], max_body: int = MAX_BODY):
        self.app, self.hosts, self.annotator_for, self.is_admin, self.max_body = app, hosts, annotator_for, is_admin, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        headers = _headers(scope)
        if not self.hosts.allows(headers.get("host")):
            return await refuse(send_secured, 400, "this server does not answer to that host name")
        path, method = scope["path"], scope["method"]
        if path.startswith("/api/"):
            token = bearer(headers)
            if path.startswith("/api/admin/"):
                if not self.is_admin(token):
                    return await refuse(send_secured, 401, "a valid coordinator token is required", bearer_challenge=True)
                scope.setdefault("state", {})["admin"] = True
            else:
                name = self.annotator_for(token)
                if name is None:
                    return await refuse(send_secured, 401, "a valid annotator token is required", bearer_challenge=True)
                scope.setdefault("state", {})["annotator"] = name
        if method in ("GET", "HEAD"):
            return await self.app(scope, receive, send_secured)
        origin = headers.get("origin")
        if origin is not None and origin not in (f"http://{headers['host']}", f"https://{headers['host']}"):
            return await refuse(send_secured, 403, "cross-origin request refused")
        if not headers.get("content-type", "").startswith("application/json"):
            return await refuse(send_secured, 415, "send JSON (Content-Type: application/json)")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await refuse(send_secured, 413, f"request bodies are limited to {self.max_body} bytes")
        body, more = b"", True
        while more:  # chunked bodies have no length to check up front: read at most the cap
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await refuse(send_secured, 413, f"request bodies are limited to {self.max_body} bytes")
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send_secured)


async def refuse(send, status: int, detail: str, bearer_challenge: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer_challenge:
        headers.append((b"www-authenticate", b"Bearer"))
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
