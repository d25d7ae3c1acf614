"""What each caller may see of alerts and configs: non-admin keys get the delivery state, never its error detail
(which host answered what would make the outbox a port scanner); nobody sees a URL's credentials."""

from __future__ import annotations

from typing import Any

from tunelab.redact import redact_url

GENERIC_ERROR = "delivery failed"


def public_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert (from `MonitorStore.list_alerts` / `get_alert`) as a non-admin key may see it: status, attempt
    count and times kept; `last_error` reduced to "delivery failed"; each delivery to (attempt, at, ok)."""
    out = {**alert, "last_error": GENERIC_ERROR if alert.get("last_error") else None}
    if "deliveries" in alert:
        out["deliveries"] = [{"attempt": d["attempt"], "at": d["at"], "ok": d["ok"]} for d in alert["deliveries"]]
    return out


def alert_view(alert: dict[str, Any], *, admin: bool) -> dict[str, Any]:
    return alert if admin else public_alert(alert)


def redacted_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config for display: a webhook URL's credentials (in configs stored before they were refused)
    masked."""
    hook = config.get("webhook")
    url = hook if isinstance(hook, str) else hook.get("url") if isinstance(hook, dict) else None
    if not isinstance(url, str) or "@" not in url.split("?")[0].split("#")[0]:
        return config
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = "***@" + parts.netloc.rpartition("@")[2]
        masked = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        masked = redact_url(url)
    return {**config, "webhook": {**hook, "url": masked} if isinstance(hook, dict) else masked}
