"""`Server`: the core on the network — WebSocket at `/`, `/heartbeat`, `/settings` and an OpenAI-compatible endpoint.

    from oi_core import OpenInterpreter
    from oi_core.server import Server

    interpreter = OpenInterpreter()
    interpreter.llm.model = "gpt-4o-mini"
    Server(interpreter).run(port=8000)          # each connection gets its own copy of these settings

aiohttp does all HTTP and WebSocket framing. Every connection gets its own interpreter (conversation and
kernels), made by the factory given to `Server`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from ..errors import OiError
from .auth import browser_refusal, key_matches, request_key
from .calls import SettingsPolicy
from .config import APPROVAL_SETTINGS, REMOTE_SETTINGS, ServerConfig
from .sessions import ServerSession
from .wire import PROTOCOL, dumps, error_frame

log = logging.getLogger("oi_core.server")

READABLE_SETTINGS = REMOTE_SETTINGS + APPROVAL_SETTINGS


def clone_interpreter(template: Any) -> Any:
    """A new interpreter with the template's settings (not its conversation)."""
    from ..open_interpreter import OpenInterpreter
    from ..profiles import SESSION_SETTINGS
    from ..settings import SETTINGS

    copy = OpenInterpreter()
    for path in SETTINGS:
        if path in SESSION_SETTINGS and path != "conversation_history_path":
            continue
        try:
            value = template.get_setting(path)
        except AttributeError:
            continue
        copy.set_setting(path, list(value) if isinstance(value, list) else value)
    copy.llm.completions = template.llm.completions
    copy.profile = template.profile
    copy.session_overrides = dict(template.session_overrides)
    copy.in_terminal_interface = False
    return copy


def json_error(status: int, message: str, kind: str) -> web.Response:
    """An HTTP error in the OpenAI error shape, so every client library reads it."""
    body = {"error": {"message": message, "type": kind, "code": status}}
    return web.json_response(body, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413 ...) as JSON bodies with the same status."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason if not exc.text or exc.text.startswith(str(exc.status))
                          else exc.text, "http_error")


class Server:
    """Serves one interpreter configuration; every WebSocket connection gets its own session."""

    def __init__(self, interpreter: Any = None, config: ServerConfig | None = None, *,
                 make_interpreter: Callable[[], Any] | None = None) -> None:
        if make_interpreter is None:
            if interpreter is None:
                from ..open_interpreter import OpenInterpreter

                interpreter = OpenInterpreter()
            template = interpreter
            make_interpreter = lambda: clone_interpreter(template)  # noqa: E731
        self.config = config or ServerConfig.from_environment()
        self.make_interpreter = make_interpreter
        self.template = make_interpreter()  # what GET /settings reads and POST /settings changes
        self.overrides: dict[str, Any] = {}  # POST /settings: applied to every session made after it
        self.policy = SettingsPolicy(self.config.allow_remote_approval_settings, local=False)
        self.sessions: dict[str, ServerSession] = {}
        self.app = web.Application(middlewares=[json_errors], client_max_size=self.config.max_frame_bytes)
        self.app.router.add_get("/", self.websocket)
        self.app.router.add_get("/heartbeat", self.heartbeat)
        self.app.router.add_get("/settings", self.get_settings)
        self.app.router.add_get("/settings/{name}", self.get_setting)
        self.app.router.add_post("/settings", self.post_settings)
        from .openai_api import OpenAIEndpoint

        self.openai = OpenAIEndpoint(self)
        self.app.router.add_post("/openai/chat/completions", self.openai.chat_completions)
        self.app.router.add_post("/openai/v1/chat/completions", self.openai.chat_completions)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.stopping = False  # set by stop(): no new connection or session is accepted any more
        self.port: int | None = None
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port or self.config.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] + "/"

    async def start(self) -> None:
        """Listen (port 0 picks a free port; `self.port` is the real one afterwards)."""
        self.template.llm.warm_up()  # import litellm once, in the background
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = self._site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port

    async def stop(self) -> None:
        """Stop listening, then close every session (turns stopped, kernels ended, conversations saved)."""
        self.stopping = True
        if self._site is not None:
            await self._site.stop()  # a client reconnecting now is refused, never attached to a closing session
            self._site = None
        for session in list(self.sessions.values()):
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=1001, message=b"server shutting down")
            await self.end_session(session)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self, ready: Callable[["Server"], None] | None = None) -> None:
        """Start, call `ready`, and run until SIGINT/SIGTERM (or `stop()`)."""
        self._stopped = asyncio.Event()
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))
            except (NotImplementedError, RuntimeError):
                pass
        if ready is not None:
            ready(self)
        await self._stopped.wait()

    def run(self, host: str | None = None, port: int | None = None) -> None:
        """Blocking: serve until interrupted (the reference's `server.run(port=...)`)."""
        if host is not None:
            self.config.host = host
        if port is not None:
            self.config.port = port
        self.config.check()
        asyncio.run(self.serve_forever(lambda server: print(f"oi-tui server on {server.url}", flush=True)))

    # ------------------------------------------------------------ sessions

    def new_interpreter(self) -> Any:
        """An interpreter for a new session or request: the factory's settings plus POST /settings changes."""
        interpreter = self.make_interpreter()
        for path, value in self.overrides.items():
            interpreter.set_setting(path, value)
        return interpreter

    def new_session(self, *, numbered: bool, events_mode: bool) -> ServerSession:
        interpreter = self.new_interpreter()
        session = ServerSession(self, interpreter, numbered=numbered, events_mode=events_mode)
        self.sessions[session.id] = session
        return session

    async def end_session(self, session: ServerSession) -> None:
        self.sessions.pop(session.id, None)
        await session.close()

    # ------------------------------------------------------------ checks shared by HTTP and WebSocket

    def refusal(self, request: web.Request) -> web.Response | None:
        """403 for browsers from other origins, 401 without the key; None when the request may go on."""
        reason = browser_refusal(request, self.config)
        if reason:
            return json_error(403, reason, "forbidden")
        if self.config.api_key and not key_matches(request_key(request), self.config.api_key):
            return json_error(401, "A valid API key is required: send it as X-API-KEY or Authorization: Bearer.",
                              "unauthorized")
        return None

    # ------------------------------------------------------------ HTTP

    async def heartbeat(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def get_settings(self, request: web.Request) -> web.Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        values = {path: self.template.get_setting(path) for path in READABLE_SETTINGS}
        return web.json_response(values, dumps=dumps)

    async def get_setting(self, request: web.Request) -> web.Response:
        from ..settings import SETTINGS, canonical_path

        refused = self.refusal(request)
        if refused is not None:
            return refused
        name = request.match_info["name"]
        path = canonical_path(name)
        if path not in SETTINGS:
            return json_error(404, f"There is no setting {name!r}.", "not_found")
        if path not in READABLE_SETTINGS:
            return json_error(403, f"{path} cannot be read remotely.", "forbidden")
        return web.json_response({name: self.template.get_setting(path)}, dumps=dumps)

    async def post_settings(self, request: web.Request) -> web.Response:
        from ..settings import SETTINGS, canonical_path

        refused = self.refusal(request)
        if refused is not None:
            return refused
        if request.content_type != "application/json":
            return json_error(415, "Send the settings as JSON (Content-Type: application/json).", "bad_request")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "The body is not valid JSON.", "bad_request")
        if not isinstance(body, dict) or not body:
            return json_error(400, 'Send a JSON object of settings, e.g. {"llm": {"model": "gpt-4o"}}.',
                              "bad_request")
        changes = flatten_settings(body, SETTINGS)
        for path in changes:
            if canonical_path(path) not in SETTINGS:
                return json_error(400, f"There is no setting {path!r}.", "bad_request")
            refusal = self.policy.refusal(path)
            if refusal:
                return json_error(403, refusal, "forbidden")
        target = request.query.get("session")
        sessions = list(self.sessions.values())
        if target is not None:
            found = self.sessions.get(target)
            if found is None:
                return json_error(404, "There is no session with that id.", "not_found")
            sessions = [found]
        applied = self._apply_to_template(changes) if target is None else None
        if isinstance(applied, web.Response):
            return applied
        if target is not None:  # validate on the session itself before telling it
            error = _validate(found.interpreter, changes)
            if error:
                return json_error(400, error, "bad_request")
        from ..events import SettingChanged

        for session in sessions:
            for path, value in changes.items():
                session.interpreter.bus.publish(SettingChanged(path, value))
        return web.json_response({"applied": changes}, dumps=dumps)

    def _apply_to_template(self, changes: dict[str, Any]) -> web.Response | None:
        """Apply all or nothing to the template (and to later sessions)."""
        from ..errors import SettingsError

        before = {path: self.template.get_setting(path) for path in changes}
        try:
            for path, value in changes.items():
                self.template.set_setting(path, value)
        except SettingsError as exc:
            for path, value in before.items():
                self.template.set_setting(path, value)
            return json_error(400, exc.message, "bad_request")
        self.overrides.update(changes)
        return None

    # ------------------------------------------------------------ WebSocket

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if self.stopping:
            return json_error(503, "The server is shutting down.", "unavailable")
        reason = browser_refusal(request, self.config)
        if reason:
            return json_error(403, reason, "forbidden")
        ws = web.WebSocketResponse(max_msg_size=self.config.hard_frame_bytes, heartbeat=30.0, compress=False)
        if not ws.can_prepare(request).ok:
            return json_error(400, "This address is the WebSocket endpoint: connect with a WebSocket client "
                                   f"to ws://{request.host}/.", "bad_request")
        await ws.prepare(request)
        header_ok = bool(self.config.api_key) and key_matches(request_key(request), self.config.api_key)
        session, first = await self._authenticate(ws, header_ok)
        if session is None:
            if not ws.closed:
                await ws.close(code=1008, message=b"authentication failed")
            return ws
        last = first.get("last") if isinstance(first.get("last"), int) else None
        sender = session.attach(ws, last if first.get("session") else None)
        sending = asyncio.ensure_future(sender.run())
        if first.get("_replay") is not None:
            await session.handle(first["_replay"])
        try:
            await self._read(ws, session, sending)
        finally:
            sending.cancel()
            try:
                await sending
            except (asyncio.CancelledError, Exception):
                pass
            session.detach(ws)
            if sender.gave_up and not ws.closed:
                await ws.close(code=1011, message=b"frames were not acknowledged")
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse, header_ok: bool) -> tuple[ServerSession | None, dict[str, Any]]:
        """The first frame: `{"auth": KEY, ...}` -> `{"auth": true, "session": id}`, or `{"auth": false}`."""
        try:
            msg = await ws.receive(timeout=self.config.auth_timeout)
        except asyncio.TimeoutError:
            await ws.send_str(dumps({"auth": False, "error": "No auth frame arrived in time."}))
            return None, {}
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                await ws.send_str(dumps({"auth": False, "error": 'The first frame must be JSON text: {"auth": KEY}.'}))
            return None, {}
        try:
            first = json.loads(msg.data)
        except ValueError:
            first = None
        if not isinstance(first, dict):
            await ws.send_str(dumps({"auth": False, "error": 'The first frame must be a JSON object: {"auth": KEY}.'}))
            return None, {}
        if "auth" not in first:
            if not header_ok and self.config.api_key:
                await ws.send_str(dumps({"auth": False, "error": 'Send {"auth": KEY} as the first frame.'}))
                return None, {}
            if not header_ok:  # no key configured: the reference still expects the auth frame first
                await ws.send_str(dumps({"auth": False, "error": 'Send {"auth": KEY} as the first frame (any key '
                                                                 'when the server has none).'}))
                return None, {}
            first = {"_replay": first}  # authenticated by the header; this frame is a normal one
        elif self.config.api_key and not header_ok and not key_matches(first.get("auth"), self.config.api_key):
            await ws.send_str(dumps({"auth": False, "error": "Wrong API key."}))
            return None, {}
        numbered = self.config.require_ack or bool(first.get("ack"))
        events_mode = bool(first.get("events"))
        resumed = False
        wanted = first.get("session")
        if wanted is not None:
            session = self.sessions.get(str(wanted))
            if session is None or session.closed:
                await ws.send_str(dumps({"auth": False, "error": "That session has ended (or never existed): "
                                                                 "connect without a session id to start a new one."}))
                return None, {}
            if not session.outbox.numbered:
                await ws.send_str(dumps({"auth": False, "error": "Only sessions in acknowledgement mode can be "
                                                                 "resumed."}))
                return None, {}
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=4000, message=b"replaced by a newer connection")
            resumed = True
        else:
            session = self.new_session(numbered=numbered, events_mode=events_mode)
        reply = {"auth": True, "session": session.id, "resumed": resumed, "protocol": PROTOCOL,
                 "ack": session.outbox.numbered, "events": session.events_mode, "received": session.client_seq}
        await ws.send_str(dumps(reply))
        last = first.get("last")
        if resumed and isinstance(last, int) and session.outbox.dropped_through > last:
            session.send(error_frame(f"{session.outbox.dropped_through - last} frames were dropped while you were "
                                     "away (too much output); the state below is current.", "resume"))
            session.send(session.state_frame())
        elif not resumed and session.events_mode:
            session.send(session.state_frame())
        return session, first

    async def _read(self, ws: web.WebSocketResponse, session: ServerSession, sending: asyncio.Future[Any]) -> None:
        """Frames from the client until it goes away; bad ones get an error frame and change nothing."""
        limit = self.config.max_frame_bytes
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if len(msg.data) > limit:
                    session.error(f"That frame was {len(msg.data):,} characters, over this server's limit of "
                                  f"{limit:,}; it was dropped.", "protocol")
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    session.error("That frame is not valid JSON; it was dropped.", "protocol")
                    continue
                if not isinstance(data, dict):
                    session.error("Each frame must be a JSON object; that one was dropped.", "protocol")
                    continue
                try:
                    await session.handle(data)
                except OiError as exc:
                    session.error(exc.message, exc.kind)
                except Exception as exc:  # a bug of ours: say so, keep the connection and the session
                    log.exception("frame failed")
                    session.error(f"The server failed on that frame ({type(exc).__name__}: {exc}).", "internal")
            elif msg.type == WSMsgType.BINARY:
                session.error("Binary frames are not supported: send JSON text frames.", "protocol")
            elif msg.type == WSMsgType.ERROR:
                break
            if sending.done():  # the sender gave up (no acks) or failed: end this connection
                break


def flatten_settings(body: dict[str, Any], known: Any, prefix: str = "") -> dict[str, Any]:
    """`{"llm": {"model": "x"}, "auto_run": true}` -> `{"llm.model": "x", "auto_run": True}`."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in known and any(name.startswith(path + ".") for name in known):
            flat.update(flatten_settings(value, known, path + "."))
        else:
            flat[path] = value
    return flat


def _validate(interpreter: Any, changes: dict[str, Any]) -> str | None:
    from ..settings import SETTINGS, canonical_path, coerce

    for path, value in changes.items():
        try:
            coerce(SETTINGS[canonical_path(path)], value)
        except OiError as exc:
            return exc.message
    return None
