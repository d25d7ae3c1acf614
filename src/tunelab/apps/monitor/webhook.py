"""One webhook POST under the operator's policy: allowed host, resolved address checked and then connected to (no
DNS rebinding), no redirects, one deadline for the whole attempt, secrets expanded only here.

Built on `http.client` (the core may not import httpx): it follows no redirect and reads no proxy variables.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tunelab.apps.monitor.config import WebhookConfig
from tunelab.apps.monitor.policy import MonitorPolicy
from tunelab.errors import ConfigError, UsageError
from tunelab.redact import redact_url

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None  # for admins only: it says what answered where (see `views.public_alert`)


def blocked_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT): anything not global."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global or ip.is_multicast


def resolve_destination(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to: `host` resolved once; UsageError if any of its addresses is blocked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot resolve {host!r} ({type(exc).__name__})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise UsageError(f"{host!r} has no address")
    if not allow_private:
        blocked = [a for a in addresses if blocked_address(ipaddress.ip_address(a))]
        if blocked:
            raise UsageError(f"{host!r} resolves to a loopback/private/reserved address {blocked[0]}: refused",
                             hint="the operator allows such addresses with webhook_allow_private")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address while the Host header names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, the certificate verified against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post_json(webhook: WebhookConfig, payload: dict[str, Any], policy: MonitorPolicy) -> SendResult:
    """POST the payload as JSON; a 2xx is a success, a 3xx a failure (redirects are never followed)."""
    problems = policy.webhook_problems(webhook)
    if problems:
        return SendResult(False, None, "; ".join(problems))
    parts = urlsplit(webhook.url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        headers = {"Content-Type": "application/json", "User-Agent": "tunelab-monitor", **policy.headers_for(webhook)}
        address = resolve_destination(host, port, allow_private=policy.allow_private)
    except (UsageError, ConfigError) as exc:
        return SendResult(False, None, exc.message)
    conn = (_PinnedHTTPS if https else _PinnedHTTP)(host, port, address, webhook.timeout_s)
    deadline = threading.Timer(webhook.timeout_s, _abort, (conn,))  # a trickling receiver: one bound for it all
    deadline.daemon = True
    deadline.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=json.dumps(payload).encode("utf-8"), headers=headers)
        answer = conn.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        return _result(answer.status, answer.reason)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        late = "" if deadline.is_alive() else f" (no answer within {webhook.timeout_s:g} s)"
        return SendResult(False, None, f"{type(exc).__name__}: {exc}{late}"[:500].replace(webhook.url,
                                                                                          redact_url(webhook.url)))
    finally:
        deadline.cancel()
        conn.close()


def _result(status: int, reason: str) -> SendResult:
    if 200 <= status < 300:
        return SendResult(True, status)
    if 300 <= status < 400:
        return SendResult(False, status, f"HTTP {status} {reason}: redirects are not followed")
    return SendResult(False, status, f"HTTP {status} {reason}")


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
