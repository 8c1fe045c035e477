"""`oi-tui --server` and `oi-tui --connect URL`: the command-line side of running the core elsewhere.

cli.py adds these flags with `add_arguments` and hands over with `run_server` / `run_connect`; nothing here
is imported for an ordinary start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

SERVER_KEY_ENV = "INTERPRETER_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server and remote core")
    group.add_argument("--server", action="store_true",
                       help="serve the core over the network (WebSocket, /settings, an OpenAI-compatible endpoint) "
                            f"instead of opening the app; the key is {SERVER_KEY_ENV}")
    group.add_argument("--host", metavar="HOST", default=None,
                       help="address to listen on (default INTERPRETER_HOST or 127.0.0.1; anything else needs a key)")
    group.add_argument("--port", metavar="PORT", type=int, default=None,
                       help="port to listen on (default INTERPRETER_PORT or 8000)")
    group.add_argument("--allow-remote-approval-settings", dest="allow_remote_approval_settings", action="store_true",
                       help="let clients change auto_run, safe_mode and allow rules (off: only this machine can)")
    group.add_argument("--allow-origin", dest="allow_origin", metavar="URL", action="append", default=[],
                       help="a web page origin allowed to connect (browsers are refused otherwise); repeatable")
    group.add_argument("--session-timeout", dest="session_timeout", metavar="SECONDS", type=float, default=None,
                       help="how long a session waits for its client to reconnect (default 300)")
    group.add_argument("--connect", metavar="URL",
                       help="open the app on a core served elsewhere by `oi-tui --server` (ws://HOST:PORT)")
    group.add_argument("--key", metavar="KEY",
                       help=f"the server's key for --connect (default: {SERVER_KEY_ENV}, then the keyring entry "
                            "stored with `oi-tui --set-key ws://HOST:PORT`)")


def run_server(args: argparse.Namespace, make_interpreter: Callable[[], tuple[Any, list[str]]],
               out: Any = None, err: Any = None) -> int:
    """Serve until interrupted; the profile and flags configure every session's interpreter."""
    import asyncio

    from oi_core.approval import startup_notices
    from oi_core.errors import OiError
    from oi_core.server import Server, ServerConfig

    out = out or sys.stdout
    err = err or sys.stderr
    options: dict[str, Any] = {"allow_remote_approval_settings": bool(args.allow_remote_approval_settings),
                               "allowed_origins": tuple(args.allow_origin or ())}
    if args.session_timeout is not None:
        options["session_timeout"] = max(0.0, float(args.session_timeout))
    try:
        config = ServerConfig.from_environment(host=args.host, port=args.port, **options)
        first, warnings = make_interpreter()
    except OiError as exc:
        print(f"oi-tui: {exc.message}", file=err)
        return 2

    def factory() -> Any:
        interpreter, _warnings = make_interpreter()
        interpreter.in_terminal_interface = False
        return interpreter

    made = [first]

    def sessions_factory() -> Any:  # the first interpreter (already made, warnings shown) is the template
        if made:
            interpreter = made.pop()
            interpreter.in_terminal_interface = False
            return interpreter
        return factory()

    server = Server(config=config, make_interpreter=sessions_factory)
    for line in warnings + startup_notices(server.template) + config.warnings():
        print(f"oi-tui: {line}", file=err)

    def ready(server: Server) -> None:
        print(f"oi-tui server listening on {server.url}", file=out)
        print(f"  WebSocket {server.ws_url}  ·  OpenAI-compatible {server.url}/openai  ·  GET /heartbeat", file=out)
        print(f"  attach the app: oi-tui --connect {server.ws_url.rstrip('/')}", file=out, flush=True)

    try:
        asyncio.run(server.serve_forever(ready))
    except OSError as exc:
        print(f"oi-tui: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}.", file=err)
        return 1
    except KeyboardInterrupt:
        pass
    print("oi-tui server stopped; every conversation is saved.", file=out)
    return 0


def connect_key(url: str, given: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The key for a server: --key, then INTERPRETER_API_KEY, then the keyring entry for the URL."""
    if given:
        return given
    env = os.environ if environ is None else environ
    if env.get(SERVER_KEY_ENV):
        return env[SERVER_KEY_ENV]
    from oi_core.secrets import server_entry, stored_api_key

    return stored_api_key(server_entry(url.rstrip("/")))


async def check_server(url: str, key: str | None) -> str | None:
    """One sentence if the server cannot be used with this key (checked before the screen is taken over)."""
    import aiohttp

    http_url = "http" + url[2:].rstrip("/") + "/settings"
    headers = {"X-API-KEY": key} if key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async with http.get(http_url, headers=headers) as response:
                status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        from oi_core.client_remote import connection_failure

        return f"cannot reach {url} ({connection_failure(exc)}); is `oi-tui --server` running there?"
    if status == 401:
        return (f"{url} refused the key: pass --key, set {SERVER_KEY_ENV}, or store it with "
                f"`oi-tui --set-key {url.rstrip('/')}`.")
    if status != 200:
        return f"{url} answered HTTP {status} to a settings request; is it an oi-tui server?"
    return None


def run_connect(args: argparse.Namespace, ignored_flags: list[str], err: Any = None) -> int:
    """The full-screen app on a remote core; returns the exit code."""
    import asyncio

    from oi_core.client_remote import RemoteClient, RemoteError, normalize_url

    err = err or sys.stderr
    try:
        url = normalize_url(args.connect)
    except RemoteError as exc:
        print(f"oi-tui: {exc.message}", file=err)
        return 2
    if ignored_flags:
        print(f"oi-tui: {', '.join(ignored_flags)} ignored with --connect: the server's profile and flags decide "
              "(switch profiles from the palette).", file=err)
    key = connect_key(url, args.key)
    problem = asyncio.run(check_server(url, key))
    if problem:
        print(f"oi-tui: {problem}", file=err)
        return 1
    from oi_tui.terminal_guard import run_guarded

    def run_app() -> int:
        from oi_tui.app import OiApp

        app = OiApp(client=RemoteClient(url, key), start_in_conversations=bool(args.conversations))
        app.run()
        return app.return_code or 0

    return run_guarded(run_app)


def set_server_key(url: str, stdin: Any, out: Any, err: Any) -> int:
    """`oi-tui --set-key ws://HOST:PORT`: keep a server's key in the keyring for --connect."""
    from oi_core.client_remote import RemoteError, normalize_url
    from oi_core.errors import OiError
    from oi_core.secrets import store_server_key

    try:
        url = normalize_url(url)
        if stdin.isatty():
            import getpass

            key = getpass.getpass(f"Key for {url} (input hidden): ")
        else:
            key = stdin.readline()
        print(store_server_key(url, key, session_fallback=False), file=out)
    except (EOFError, KeyboardInterrupt):
        print("oi-tui: no key entered; nothing was stored.", file=err)
        return 1
    except (OiError, RemoteError) as exc:
        print(f"oi-tui: {exc.message}", file=err)
        return 1
    return 0
