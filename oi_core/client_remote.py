"""`RemoteClient`: a core served by `oi-tui --server`, behind `CoreClient`, over one WebSocket.

The client asks for events mode (the server sends its bus events as they are) and acknowledgements
(every server frame has an id; the client answers `{"ack_through": id}`). Its own frames carry a `cid`;
after a dropped connection it resumes the same session, the server replays what the client missed, and
the client sends again what the server had not received, so nothing typed is lost and nothing arrives
twice. Drops are announced on the bus (`ConnectionLost` / `ConnectionRestored`) and retried with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import mimetypes
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from .bus import EventBus
from .client import ConnectionLost, ConnectionRestored, ConversationListing, CoreClient, CoreState, ExportFormat, \
    ProfileEntry
from .errors import OiError
from .events import (
    CostUpdated, ErrorRaised, InputWithdrawn, MessageCompleted, MessagesReplaced, SettingsApplied, StatusChanged,
    TurnFinished,
)
from .server.calls import CallError, info_from_dict, restore_from_dict
from .server.wire import decode_event, dumps

log = logging.getLogger("oi_core.client_remote")

KEEP_UNCONFIRMED = 2000  # frames kept to send again after a drop (the server says which it already has)
ACK_DELAY = 0.02  # seconds an acknowledgement waits for more frames to cover
ACK_EVERY = 64  # frames after which an acknowledgement goes out at once (the server sends ahead ~1,000)


class RemoteError(OiError):
    kind = "connection"


class AuthRefused(RemoteError):
    """The server refused the key (retrying cannot help)."""


def connection_failure(exc: BaseException) -> str:
    """A connection failure in a few words ("connection refused", "timed out"), without aiohttp's internals."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno is not None:
        import os

        return os.strerror(os_error.errno).lower()
    if isinstance(exc, OSError) and exc.errno is not None:
        import os

        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def normalize_url(url: str) -> str:
    """`host:port`, `http://…` or `ws://…` -> the WebSocket address `ws://host:port/`."""
    text = url.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise RemoteError(f"{url!r} is not a server address; use ws://HOST:PORT (as `oi-tui --server` prints).")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", "", ""))


class RemoteClient(CoreClient):
    """The core on a server."""

    remote = True

    def __init__(self, url: str, key: str | None = None, *, call_timeout: float = 60.0, retry_max: float = 5.0,
                 connect_timeout: float = 10.0) -> None:
        self.url = normalize_url(url)
        self.key = key or ""
        self.bus = EventBus()
        self.call_timeout = call_timeout
        self.retry_max = retry_max
        self.connect_timeout = connect_timeout
        self.session_id: str | None = None
        self.connected = False
        self.closed = False
        self._state = CoreState()
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._last_id = 0  # the newest server frame handled (ids are contiguous per session)
        self._acked = 0
        self._ack_timer: asyncio.TimerHandle | None = None
        self._cids = itertools.count(1)
        self._unconfirmed: deque[tuple[int, str, bool]] = deque()  # (cid, text, part of a user message)
        self._jobs: asyncio.Queue[Callable[[], Awaitable[list[dict[str, Any]]]] | list[dict[str, Any]]] | None = None
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._call_ids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []
        self._has_state = asyncio.Event()

    # ------------------------------------------------------------ CoreClient basics

    @property
    def state(self) -> CoreState:
        return self._state

    @property
    def busy(self) -> bool:
        return bool(self._state.busy)

    def describe(self) -> str:
        return self.url

    async def start(self) -> None:
        """Connect and receive the session's state; OiError (one sentence) when the server cannot be used."""
        self._http = aiohttp.ClientSession()
        self._jobs = asyncio.Queue()
        try:
            await self._connect()
        except BaseException:
            await self._http.close()
            raise
        self._tasks = [asyncio.ensure_future(self._run()), asyncio.ensure_future(self._produce())]
        try:  # the session's state follows the auth reply: the client is usable once it has arrived
            await asyncio.wait_for(self._has_state.wait(), self.connect_timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise RemoteError(f"{self.url} did not send the session's state; is it an oi-tui server?") from None

    async def close(self) -> None:
        """Leave: the server ends this session (turn stopped, conversation saved there)."""
        if self.closed:
            return
        self.closed = True
        ws = self._ws
        if ws is not None and not ws.closed:
            try:
                await ws.send_str(dumps({"role": "client", "type": "end", "cid": next(self._cids)}))
                await ws.close()
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                pass
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for future in self._calls.values():
            if not future.done():
                future.set_exception(RemoteError("The app closed the connection to the server."))
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------ connection

    async def _connect(self) -> str:
        """Open the socket and authenticate (resuming the session when there is one); returns a note when the
        session could not be resumed, "" otherwise."""
        assert self._http is not None
        try:
            ws = await self._http.ws_connect(self.url, max_msg_size=0, heartbeat=20.0,
                                             timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                                             autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            raise RemoteError(f"{self.url} refused the connection ({exc.status}): {exc.message}.") from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise RemoteError(f"Cannot reach {self.url}: {connection_failure(exc)}.") from None
        auth: dict[str, Any] = {"auth": self.key or "none", "ack": True, "events": True}
        resuming = self.session_id is not None
        if resuming:
            auth.update(session=self.session_id, last=self._last_id)
        try:
            await ws.send_str(dumps(auth))
            hello = await ws.receive_json(timeout=self.connect_timeout)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, TypeError, ValueError) as exc:
            await ws.close()
            raise RemoteError(f"{self.url} did not answer the auth frame ({type(exc).__name__}).") from None
        if not hello.get("auth"):
            await ws.close()
            error = str(hello.get("error") or "the key was refused")
            if resuming and "ended" in error:  # the server restarted or the session timed out: start a new one
                self.session_id = None
                await self._connect()
                return ("The server had ended the session, so a new one started (the old conversation is saved "
                        "on the server).")
            raise AuthRefused(f"{self.url} refused the connection: {error}")
        if not resuming:
            self._last_id = self._acked = 0
        self.session_id = str(hello.get("session"))
        self._ws = ws
        self.connected = True
        self._resend(int(hello.get("received") or 0), resumed=resuming)
        return ""

    def _resend(self, received: int, resumed: bool) -> None:
        """Send again what the server had not received (a new session only gets the user's messages)."""
        while self._unconfirmed and self._unconfirmed[0][0] <= received and resumed:
            self._unconfirmed.popleft()
        pending = [(cid, text) for cid, text, part in self._unconfirmed if resumed or part]
        for _cid, text in pending:
            asyncio.ensure_future(self._write(text))

    async def _write(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return  # kept in _unconfirmed: sent again after the reconnection
        try:
            await ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass

    async def _run(self) -> None:
        """Read frames; after a drop, reconnect (resuming the session) with backoff until closed."""
        attempt = 0
        while not self.closed:
            reason = "the connection closed"
            try:
                await self._read()
            except (aiohttp.ClientError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            self.connected = False
            self._ws = None
            if self.closed:
                return
            while not self.closed:
                delay = min(self.retry_max, 0.25 * 2 ** attempt)
                attempt += 1
                self.bus.publish(ConnectionLost(f"Lost the connection to {self.url} ({reason}).", delay))
                await asyncio.sleep(delay)
                try:
                    note = await self._connect()
                except AuthRefused as exc:
                    self.bus.publish(ErrorRaised("connection", exc.message))
                    continue
                except RemoteError as exc:
                    reason = exc.message
                    continue
                attempt = 0
                self.bus.publish(ConnectionRestored(not note, note))
                break

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    break
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(frame, dict):
                self._receive(frame)

    # ------------------------------------------------------------ frames from the server

    def _receive(self, frame: dict[str, Any]) -> None:
        frame_id = frame.get("id")
        if isinstance(frame_id, int):
            if frame_id <= self._last_id:
                return  # sent again after a resend or a resume: already handled
            self._last_id = frame_id
            self._schedule_ack()
        kind = frame.get("type")
        if kind == "event":
            self._event(frame)
        elif kind == "state":
            self._has_state.set()
            self._state.update(frame.get("content") or {})
            self.bus.publish(MessagesReplaced(len(self._state.messages)))
            self.bus.publish(SettingsApplied({}, self._state.profile))
        elif kind == "result":
            future = self._calls.pop(frame.get("call"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                if "error" in frame:
                    error = frame["error"] or {}
                    message = str(error.get("message") or "The server could not do that.")
                    future.set_exception(CallError(message, str(error.get("detail") or message)))
                else:
                    future.set_result(frame.get("result"))
        elif kind == "error":
            self.bus.publish(ErrorRaised(str(frame.get("kind") or "server"), str(frame.get("content") or "")))

    def _event(self, frame: dict[str, Any]) -> None:
        event = decode_event(str(frame.get("event")), frame.get("data") or {})
        if event is None:
            return  # an event this client does not know (a newer server)
        state = self._state
        if isinstance(event, MessageCompleted):
            messages = state.messages
            if event.index < len(messages):
                messages[event.index] = event.message
            else:
                messages.append(event.message)
            length = frame.get("length")
            if isinstance(length, int) and len(messages) > length:
                del messages[length:]
        elif isinstance(event, (MessagesReplaced, SettingsApplied)):
            state.update(frame.get("state") or {})
        elif isinstance(event, InputWithdrawn):
            length = frame.get("length")
            if isinstance(length, int):
                del state.messages[length:]
        elif isinstance(event, CostUpdated):
            state.total_cost = event.total_cost
        elif isinstance(event, StatusChanged):
            state.status = event.status
            state.busy = bool(frame.get("busy", event.status != "idle"))
        elif isinstance(event, TurnFinished):
            state.status, state.busy = "idle", False
        self.bus.publish(event)

    def _schedule_ack(self) -> None:
        if self._last_id - self._acked >= ACK_EVERY:
            if self._ack_timer is not None:
                self._ack_timer.cancel()
            self._send_ack()
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._send_ack)

    def _send_ack(self) -> None:
        self._ack_timer = None
        if self._last_id > self._acked and self._ws is not None:
            self._acked = self._last_id
            asyncio.ensure_future(self._write(dumps({"ack_through": self._last_id})))

    # ------------------------------------------------------------ frames to the server

    def _post(self, frames: list[dict[str, Any]] | Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        """Queue frames (or a coroutine making them, e.g. reading images) to go out in order."""
        if self._jobs is None:
            raise RemoteError("The client is not connected yet: call start() first.")
        self._jobs.put_nowait(frames)

    async def _produce(self) -> None:
        assert self._jobs is not None
        while True:
            job = await self._jobs.get()
            try:
                frames = job if isinstance(job, list) else await job()
            except OiError as exc:
                self.bus.publish(ErrorRaised(exc.kind, exc.message))
                continue
            for frame in frames:
                cid = next(self._cids)
                text = dumps({**frame, "cid": cid})
                part = frame.get("role") == "user" and frame.get("type") in (None, "message", "image", "file")
                self._unconfirmed.append((cid, text, part))
                if len(self._unconfirmed) > KEEP_UNCONFIRMED:
                    self._unconfirmed.popleft()
                await self._write(text)

    def send(self, text: str, images: tuple[str, ...] = ()) -> None:
        async def frames() -> list[dict[str, Any]]:
            items = await asyncio.to_thread(_image_items, text, tuple(images))
            return ([{"role": "user", "start": True}, {"role": "user", "type": "message", "content": text}]
                    + items + [{"role": "user", "end": True}])

        self._post(frames)

    def stop(self) -> None:
        self._post([{"role": "user", "type": "command", "content": "stop"}])

    def approve(self, request_id: str, code: str, confirmed_incomplete: bool = False) -> None:
        self._post([{"role": "user", "type": "command", "content": "go", "request_id": request_id, "code": code,
                     "confirmed_incomplete": confirmed_incomplete}])

    def skip(self, request_id: str, reason: str = "", how: str = "skip") -> None:
        command = how if how in ("escape", "fix") else "skip"
        self._post([{"role": "user", "type": "command", "content": command, "request_id": request_id,
                     "reason": reason}])

    def request_scan(self, request_id: str) -> None:
        self._post([{"role": "user", "type": "command", "content": "scan", "request_id": request_id}])

    def add_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None:
        self._post([{"role": "client", "type": "allow_rule", "action": "add", "rule": rule, "save": save}])

    def remove_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None:
        self._post([{"role": "client", "type": "allow_rule", "action": "remove", "rule": rule, "save": save}])

    def answer_input(self, request_id: str, text: str) -> None:
        self._post([{"role": "user", "type": "input", "request_id": request_id, "content": text}])

    def set_setting(self, path: str, value: Any) -> None:
        self._post([{"role": "client", "type": "setting", "path": path, "value": value}])

    # ------------------------------------------------------------ calls

    async def call(self, method: str, **params: Any) -> Any:
        """One request/response call to the session's CoreCalls (see oi_core.server.calls)."""
        call_id = next(self._call_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        self._post([{"role": "client", "type": "call", "call": call_id, "method": method, "params": params}])
        try:
            return await asyncio.wait_for(future, self.call_timeout)
        except asyncio.TimeoutError:
            raise RemoteError(f"{self.url} did not answer in {self.call_timeout:.0f} s"
                              f"{'' if self.connected else ' (the connection is down)'}.") from None
        finally:
            self._calls.pop(call_id, None)

    async def new_conversation(self) -> None:
        await self.call("conversation.new")

    async def list_conversations(self) -> ConversationListing:
        data = await self.call("conversations.list")
        return ConversationListing([info_from_dict(d) for d in data["infos"]],
                                   [(p["path"], p["reason"]) for p in data["problems"]], data["folder"])

    async def search_conversations(self, query: str, infos: list[Any] | None = None) -> list[Any]:
        ids = None if infos is None else [info.id for info in infos]
        return [info_from_dict(d) for d in await self.call("conversations.search", query=query, ids=ids)]

    async def load_conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        return list(await self.call("conversations.load", conversation_id=conversation_id))

    async def resume_conversation(self, conversation_id: str) -> None:
        await self.call("conversations.resume", conversation_id=conversation_id)

    async def rename_conversation(self, conversation_id: str, title: str) -> Any:
        return info_from_dict(await self.call("conversations.rename", conversation_id=conversation_id, title=title))

    async def delete_conversation(self, conversation_id: str) -> None:
        await self.call("conversations.delete", conversation_id=conversation_id)

    async def export_conversation(self, conversation_id: str, fmt: ExportFormat, path: str | Path) -> Path:
        from .client_local import write_export

        exported = await self.call("conversations.export", conversation_id=conversation_id, fmt=fmt)
        return await write_export(path, exported["text"])

    async def list_profiles(self) -> list[ProfileEntry]:
        return [ProfileEntry(**entry) for entry in await self.call("profiles.list")]

    async def switch_profile(self, name: str) -> list[str]:
        return list(await self.call("profiles.switch", name=name))

    async def undo(self) -> Any:
        return restore_from_dict(await self.call("checkpoints.undo"))

    async def rewind(self, index: int, replay_kernel: bool = False) -> Any:
        return restore_from_dict(await self.call("checkpoints.rewind", index=index, replay_kernel=replay_kernel))

    async def run_changes(self, record: dict[str, Any]) -> tuple[list[Any], str]:
        from .checkpoint_changes import FileChange

        data = await self.call("checkpoints.changes", record=record)
        return [FileChange.from_dict(change) for change in data["changes"]], data["patch"]


def _image_items(text: str, images: tuple[str, ...]) -> list[dict[str, Any]]:
    """Images on this machine (attached, or named in the text) as base64 frames the server can use."""
    from .images import image_paths_in

    paths = [Path(p).expanduser() for p in images] + [p for p in image_paths_in(text, Path.cwd())
                                                       if str(p) not in images]
    items = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RemoteError(f"Could not read the image {path}: {exc.strerror or exc}.") from None
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        fmt = "base64.jpeg" if mime == "image/jpeg" else "base64.png" if mime == "image/png" else "base64"
        content = base64.b64encode(data).decode() if fmt != "base64" else \
            f"data:{mime};base64,{base64.b64encode(data).decode()}"
        items.append({"role": "user", "type": "image", "format": fmt, "content": content})
    return items
