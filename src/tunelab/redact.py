"""Redaction for logs and screens: a URL shown without its credentials, path or query (they often carry a token)."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """`https://user:pw@hooks.example.com:8443/T0/B1/secret?x=1` -> `https://***@hooks.example.com:8443/...`."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unreadable url)"
    if ":" in host:
        host = f"[{host}]"
    userinfo = "***@" if "@" in parts.netloc else ""
    where = f"{host}:{port}" if port is not None else host
    rest = "/..." if parts.path.strip("/") or parts.query or parts.fragment else ""
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{userinfo}{where}{rest}"
