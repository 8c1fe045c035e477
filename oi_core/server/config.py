"""How a server is set up: address, key, limits and what remote clients may change, from flags and environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from ..errors import OiError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
KEY_ENV = "INTERPRETER_API_KEY"  # the reference's name for the server's key
HOST_ENV = "INTERPRETER_HOST"
PORT_ENV = "INTERPRETER_PORT"
ACK_ENV = "INTERPRETER_REQUIRE_ACKNOWLEDGE"

#: Settings any authenticated client may read and change (never keys, endpoints or file locations).
REMOTE_SETTINGS = (
    "llm.model", "llm.temperature", "llm.max_tokens", "llm.context_window", "llm.max_output",
    "llm.supports_functions", "llm.supports_vision", "custom_instructions", "system_message", "loop",
    "loop_message", "max_budget", "verbose", "debug", "computer.emit_images", "user_message_template",
    "code_output_template", "empty_code_output_template",
)
#: Settings that decide whether code runs unasked: readable by all, changed only with --allow-remote-approval-settings.
APPROVAL_SETTINGS = ("auto_run", "safe_mode", "allow_rules")


class ConfigError(OiError):
    kind = "server"


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _env_flag(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class ServerConfig:
    """Everything `Server` needs besides the interpreters it makes."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    allow_remote_approval_settings: bool = False  # auto_run / safe_mode / allow_rules changeable by clients
    allowed_origins: tuple[str, ...] = ()  # browser origins besides the server's own
    require_ack: bool = False  # every client must acknowledge frames (INTERPRETER_REQUIRE_ACKNOWLEDGE)
    ack_window: int = 1024  # frames sent ahead of the oldest unacknowledged one
    resend_after: float = 2.0  # seconds without an ack before unacknowledged frames are sent again
    resend_attempts: int = 5  # rounds of resending before the connection is given up (the session stays)
    session_timeout: float = 300.0  # seconds a session outlives its connection, waiting to be resumed
    max_frame_bytes: int = 16 * 1024 * 1024  # bigger frames are refused with an error frame
    hard_frame_bytes: int = 64 * 1024 * 1024  # bigger frames close the connection (1009)
    retain_bytes: int = 32 * 1024 * 1024  # frames kept per session for a client to resume (oldest dropped first)
    auth_timeout: float = 10.0  # seconds to send the auth frame

    @classmethod
    def from_environment(cls, host: str | None = None, port: int | None = None, api_key: str | None = None,
                         environ: dict[str, str] | None = None, **options: object) -> "ServerConfig":
        """Flags first, then INTERPRETER_HOST / INTERPRETER_PORT / INTERPRETER_API_KEY, then the defaults."""
        env = os.environ if environ is None else environ
        if host is None:
            host = env.get(HOST_ENV) or DEFAULT_HOST
        if port is None:
            raw = env.get(PORT_ENV)
            try:
                port = int(raw) if raw else DEFAULT_PORT
            except ValueError:
                raise ConfigError(f"{PORT_ENV}={raw!r} is not a port number.") from None
        if api_key is None:
            api_key = env.get(KEY_ENV) or None
        if "require_ack" not in options:
            options["require_ack"] = _env_flag(env.get(ACK_ENV))
        config = cls(host=host, port=port, api_key=api_key, **options)  # type: ignore[arg-type]
        config.check()
        return config

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse set-ups that would expose code execution: a reachable address without a key, bad ports."""
        if not 0 <= int(self.port) <= 65535:
            raise ConfigError(f"Port {self.port} is not between 0 and 65535.")
        if not self.loopback and not self.api_key:
            raise ConfigError(
                f"Binding to {self.host} lets other machines run code here, so it needs a key: set {KEY_ENV} "
                "and try again.")
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError(f"{KEY_ENV} is too short: use at least 8 characters (32 random ones is better).")

    def warnings(self) -> list[str]:
        """Sentences to print at start: what a reachable or open server means."""
        notes = []
        if not self.loopback:
            notes.append(f"Warning: listening on {self.host}, reachable from other machines. Anyone with the key can "
                         "run code on this machine; use TLS (a reverse proxy) on untrusted networks.")
        elif not self.api_key:
            notes.append(f"No {KEY_ENV} is set: any program on this machine can connect (web pages cannot).")
        if self.allow_remote_approval_settings:
            notes.append("Remote clients may turn auto-run on and safe mode off (--allow-remote-approval-settings).")
        return notes
