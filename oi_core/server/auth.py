"""Who may talk to the server: the API key (header or auth frame), and never a web page from another origin.

A browser attaches an `Origin` header to every WebSocket and cross-site request, so a page the user
happens to open cannot drive a server on this machine: requests with an Origin are refused unless it
was allowed with --allow-origin. On loopback, a `Host` that is not a loopback name is refused too
(a DNS-rebinding page would send its own host name).
"""

from __future__ import annotations

import hmac
from typing import Any

from .config import ServerConfig, is_loopback


def request_key(request: Any) -> str | None:
    """The key a request carries: `X-API-KEY`, or `Authorization: Bearer KEY`."""
    key = request.headers.get("X-API-KEY")
    if key:
        return key.strip()
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def key_matches(given: Any, expected: str) -> bool:
    """Constant-time comparison, so the key cannot be guessed byte by byte from timings."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _host_name(host_header: str) -> str:
    host = host_header.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def browser_refusal(request: Any, config: ServerConfig) -> str | None:
    """Why a request that looks like it comes from a web page is refused (one sentence), or None."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") not in {o.rstrip("/") for o in config.allowed_origins}:
        return (f"Requests from web pages ({origin}) are refused; start the server with --allow-origin {origin} "
                "to allow that page.")
    if config.loopback and not config.allowed_origins:
        host = _host_name(request.headers.get("Host", ""))
        if host and not is_loopback(host):
            return f"The Host {host!r} is not this machine's loopback name, so the request was refused."
    return None
