"""Browser-facing guards, as pure ASGI middleware: the `Host` header must name this server (DNS rebinding), and a
state change must come from this server's own pages or from a non-browser client (cross-site request forgery).

Host: with `allowed_hosts` set, only those names; otherwise a server without authentication answers only to
loopback names (`localhost`, 127.0.0.0/8, [::1]) and a server with authentication to any name (a rebinding page
holds no API key). Origin: a POST/PUT/PATCH/DELETE whose `Origin` (or `Sec-Fetch-Site`) says another site sent it
is refused (403) unless that origin is in `cors_origins`. SDKs, curl and scripts send no `Origin`.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from tunelab.serving.http_errors import error_response
from tunelab.serving.settings import ServeSettings

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(host: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostOriginGuard:
    def __init__(self, app: Any, settings: ServeSettings) -> None:
        self.app = app
        self.allowed = {h.strip().lower() for h in settings.allowed_hosts if h.strip()}
        self.auth = settings.auth
        self.cors = {o.rstrip("/").lower() for o in settings.cors_origins}

    def host_ok(self, host: str) -> bool:
        if self.allowed:
            return host.lower() in self.allowed or host_name(host) in self.allowed
        return self.auth or is_loopback_name(host_name(host))

    def origin_ok(self, headers: dict[bytes, bytes], host: str) -> bool:
        origin = headers.get(b"origin", b"").decode("latin-1").strip().lower()
        if origin and origin != "null":
            same = urlsplit(origin).netloc == host.lower()
            return same or origin.rstrip("/") in self.cors
        if origin == "null":  # sandboxed frames and some redirects: never this server's own pages
            return False
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        return site in ("", "same-origin", "none")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_ok(host):
            response = error_response(421, "unknown_host", "this server does not answer to that host name",
                                      {"hint": "the operator lists the names in the allowed_hosts setting"})
        elif scope["method"] in UNSAFE and not self.origin_ok(headers, host):
            response = error_response(403, "cross_origin", "state changes from another site's pages are refused",
                                      {"hint": "call the API from a script or the SDK, or list the origin in "
                                               "cors_origins"})
        else:
            return await self.app(scope, receive, send)
        await response(scope, receive, send)
