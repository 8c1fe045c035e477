"""A socket guard for `offline` tests: any connection or name lookup off loopback fails and is recorded.

Installed first thing in a child process (`python -c "import tests.offline_guard as g; g.install(...)"`), so
even what litellm does at import time is caught. Every TCP connection attempt is appended to a JSON-lines
file at once (the TUI leaves with os._exit, so nothing may wait for exit): `{"host", "port", "blocked"}`.
This is a guard around the real feature, not a stand-in for it: allowed connections go through unchanged.
"""

from __future__ import annotations

import errno
import json
import socket
import threading

_LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}
_lock = threading.Lock()


def is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    return host.startswith("127.") or host in ("::1", "0:0:0:0:0:0:0:1") or host.lower() in _LOOPBACK_NAMES


def install(report_path: str) -> None:
    """Patch socket connect and name lookup for this process; log every attempt to `report_path`."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def record(host: object, port: object, blocked: bool, kind: str) -> None:
        with _lock, open(report_path, "a", encoding="utf-8") as report:
            report.write(json.dumps({"kind": kind, "host": str(host), "port": port, "blocked": blocked}) + "\n")

    def check(sock: socket.socket, address: object) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return
        host, port = address[0], address[1]
        blocked = not is_loopback(host)
        record(host, port, blocked, "connect")
        if blocked:
            raise OSError(errno.ENETUNREACH, f"offline guard: connection to {host}:{port} refused")

    def connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if host is not None and not is_loopback(host):
            record(host, args[0] if args else None, True, "lookup")
            raise socket.gaierror(socket.EAI_NONAME, f"offline guard: lookup of {host} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def read_report(report_path: str) -> list[dict[str, object]]:
    try:
        with open(report_path, encoding="utf-8") as report:
            return [json.loads(line) for line in report if line.strip()]
    except FileNotFoundError:
        return []
