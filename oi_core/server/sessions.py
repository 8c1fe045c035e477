"""One server session: an interpreter with its own conversation and kernels, driven through the bus by a client.

The session never reaches into the respond loop: frames from the client become the same bus events the
TUI publishes (CodeApproved, CodeSkipped, InputAnswered, StopRequested, SettingChanged ...), and the core's
events become frames. So approval, safe mode, risk marks and stop behave exactly as they do in the TUI.
A session outlives a dropped connection for `session_timeout` seconds, so its client can resume it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from .. import events
from ..errors import OiError
from ..events import Event
from ..session import Session
from .calls import CallError, CoreCalls, state_snapshot
from .inbound import InboundError, InboundMessage, check_items
from .outbox import Outbox, Sender
from .wire import CLIENT_EVENTS, COMPLETE, confirmation_frame, encode_event, error_frame

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger("oi_core.server")

BUSY = "Still working on the last message: wait for it to complete, or send the stop command."


class ServerSession:
    """A client's interpreter, its core Session and its outbox of frames."""

    def __init__(self, server: "Server", interpreter: Any, *, numbered: bool, events_mode: bool) -> None:
        self.server = server
        self.id = secrets.token_urlsafe(18)  # unguessable: with the key, it is what lets a client resume
        self.interpreter = interpreter
        self.core = Session(interpreter)
        self.events_mode = events_mode
        self.outbox = Outbox(numbered, server.config.retain_bytes)
        self.calls = CoreCalls(interpreter, self.core, server.policy)
        self.pending: dict[str, events.ApprovalRequested] = {}
        self.inputs: set[str] = set()
        self.inbound = InboundMessage()
        self.client_seq = 0  # the newest numbered frame from the client (told to it when it resumes)
        self.ws: Any = None
        self.closed = False
        self._magic = False
        self._turn: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._expiry: asyncio.TimerHandle | None = None
        self._unsubscribe = interpreter.bus.on(Event, self._forward)

    # ------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        return self.core.busy or self._magic or (self._turn is not None and not self._turn.done())

    def send(self, frame: dict[str, Any]) -> None:
        self.outbox.add(frame)

    def error(self, message: str, kind: str = "error") -> None:
        """An error frame; when no turn runs, `complete` follows so a waiting client knows it is over."""
        if self.events_mode:
            self.send({"role": "server", "type": "event", **encode_event(events.ErrorRaised(kind, message))})
            return
        self.send(error_frame(message, kind))
        if not self.busy:
            self.send(dict(COMPLETE))

    def state_frame(self) -> dict[str, Any]:
        return {"role": "server", "type": "state", "content": state_snapshot(self.interpreter, self.busy)}

    # ------------------------------------------------------------ core events -> frames

    def _forward(self, event: Event) -> None:
        """Runs inline as the core publishes, so frames keep the core's order (and messages are read as they are)."""
        if isinstance(event, CLIENT_EVENTS) or self.closed:
            return
        try:
            if isinstance(event, events.ApprovalRequested):
                self.pending[event.request_id] = event
            elif isinstance(event, events.ApprovalResolved):
                self.pending.pop(event.request_id, None)
            elif isinstance(event, events.InputRequested):
                self.inputs.add(event.request_id)
            elif isinstance(event, events.TurnFinished):
                self.inputs.clear()
            if self.events_mode:
                self._forward_event(event)
            else:
                self._forward_lmc(event)
        except Exception:  # never break the core's publish; the client is told the stream has a hole
            log.exception("could not forward %s", type(event).__name__)
            self.send(error_frame(f"The server could not send a {type(event).__name__} event to this client."))

    def _forward_event(self, event: Event) -> None:
        frame: dict[str, Any] = {"role": "server", "type": "event", **encode_event(event)}
        if isinstance(event, (events.MessagesReplaced, events.SettingsApplied)):
            frame["state"] = state_snapshot(self.interpreter, self.busy,
                                            messages=isinstance(event, events.MessagesReplaced))
        elif isinstance(event, (events.MessageCompleted, events.InputWithdrawn)):
            frame["length"] = len(self.interpreter.messages)
        elif isinstance(event, events.StatusChanged):
            frame["busy"] = self.busy or event.status != "idle"
        self.send(frame)

    def _forward_lmc(self, event: Event) -> None:
        if isinstance(event, events.ChunkEmitted):
            if event.chunk.get("type") != "confirmation":  # a confirmation is sent only when go is awaited
                self.send(dict(event.chunk))
        elif isinstance(event, events.ApprovalRequested):
            self.send(confirmation_frame(event))
        elif isinstance(event, events.ScanFinished):
            self.send({"role": "server", "type": "scan", "request_id": event.request_id,
                       "content": event.scan.to_dict()})
        elif isinstance(event, events.ApprovalResolved):
            self.send({"role": "server", "type": "approval", "request_id": event.request_id,
                       "content": event.outcome})
        elif isinstance(event, events.CodeAllowedByRule):
            self.send({"role": "server", "type": "info",
                       "content": f"Ran without asking: allowed by the rule “{event.description or event.rule}”."})
        elif isinstance(event, events.InputRequested):
            self.send({"role": "server", "type": "input", "request_id": event.request_id,
                       "content": event.prompt, "password": event.password})
        elif isinstance(event, events.ErrorRaised):
            self.error(event.message, event.kind)
        elif isinstance(event, events.InfoShown):
            self.send({"role": "server", "type": "info", "content": event.text, "title": event.title})
        elif isinstance(event, events.TurnFinished):
            self.send(dict(COMPLETE))

    # ------------------------------------------------------------ frames -> core

    async def handle(self, data: dict[str, Any]) -> None:
        """One frame from the client (already parsed as a JSON object)."""
        cid = data.get("cid")
        if isinstance(cid, int) and not isinstance(cid, bool):  # numbered by the client: sent again after a drop
            if cid <= self.client_seq:
                return
            self.client_seq = cid
        if "ack" in data or "ack_through" in data:
            self._ack(data)
            return
        role = data.get("role")
        if role == "user":
            await self._user_frame(data)
        elif role == "client":
            self._client_frame(data)
        else:
            self.error(f"Unknown frame (role {role!r}): send LMC frames with role user, or acknowledgements.",
                       "protocol")

    def _ack(self, data: dict[str, Any]) -> None:
        through = "ack_through" in data
        value = data.get("ack_through" if through else "ack")
        if not isinstance(value, int) or isinstance(value, bool):
            self.error("An acknowledgement must carry the numeric id of a frame.", "protocol")
            return
        if self.outbox.numbered:
            self.outbox.ack(value, through=through)

    async def _user_frame(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "command":
            self._command(data)
            return
        if kind == "input" and not data.get("start") and not data.get("end"):
            self._input_answer(data)
            return
        try:
            if data.get("start"):
                self.inbound.start(kind)
                if "content" not in data:
                    return
            if "content" in data and kind is not None:
                self.inbound.add(data)
            if data.get("end"):
                items = self.inbound.end(kind)
                if items is not None:
                    await self._send_message(items)
        except InboundError as exc:
            self.error(exc.message, "message")

    async def _send_message(self, items: list[dict[str, Any]]) -> None:
        if self.busy:
            self.error(BUSY, "busy")
            return
        try:
            await asyncio.to_thread(check_items, items)
        except InboundError as exc:
            self.error(exc.message, "message")
            return
        if self.busy:  # a message that arrived while the files were checked
            self.error(BUSY, "busy")
            return
        text = "".join(str(i["content"]) for i in items if i["type"] == "message")
        if len(items) == 1 and text.lstrip().startswith("%"):
            self._spawn(self._magic_command(text.strip()))
            return
        message: Any = text if len(items) == 1 and items[0]["type"] == "message" else items
        self._turn = self._spawn(self.core.run_turn(message))

    async def _magic_command(self, line: str) -> None:
        from ..magic import run_magic

        self._magic = True
        try:
            text = await run_magic(self.core, line)
        except OiError as exc:
            self._magic = False
            self.interpreter.bus.publish(events.ErrorRaised(exc.kind, exc.message))
            return
        finally:
            self._magic = False
        if text:
            self.interpreter.bus.publish(events.InfoShown(text))
        if not self.events_mode:
            self.send(dict(COMPLETE))

    def _command(self, data: dict[str, Any]) -> None:
        command = str(data.get("content") or "").strip().lower()
        bus = self.interpreter.bus
        if command == "stop":
            if self.busy:
                bus.publish(events.StopRequested())
            elif not self.events_mode:
                self.send(dict(COMPLETE))
            return
        if command not in ("go", "skip", "escape", "fix", "scan"):
            self.error(f"Unknown command {command!r}: use go, stop, skip, fix or scan.", "protocol")
            return
        request_id = self._pending_id(data)
        if request_id is None:
            return
        if command == "go":
            code = data.get("code", self.pending[request_id].code)
            if not isinstance(code, str):
                self.error("The code sent with go must be text.", "approval")
                return
            bus.publish(events.CodeApproved(request_id, code, bool(data.get("confirmed_incomplete"))))
        elif command == "scan":
            bus.publish(events.ScanRequested(request_id))
        else:
            how = command if command in ("escape", "fix") else "skip"
            bus.publish(events.CodeSkipped(request_id, str(data.get("reason") or ""), how))  # type: ignore[arg-type]

    def _pending_id(self, data: dict[str, Any]) -> str | None:
        """The block a command is about: exactly the one named, or the only one waiting."""
        named = data.get("request_id", data.get("id") if isinstance(data.get("id"), str) else None)
        if not self.pending:
            self.error("No code is waiting for approval, so nothing was run.", "approval")
            return None
        if named is None:
            if len(self.pending) == 1:
                return next(iter(self.pending))
            self.error("Several blocks wait for approval: name one with request_id.", "approval")
            return None
        if named not in self.pending:
            waiting = ", ".join(self.pending)
            self.error(f"The request_id {named!r} does not match the code waiting for approval ({waiting}); "
                       "nothing was run.", "approval")
            return None
        return str(named)

    def _input_answer(self, data: dict[str, Any]) -> None:
        request_id = data.get("request_id")
        if request_id not in self.inputs:
            self.error("No running code is waiting for that input.", "input")
            return
        self.inputs.discard(request_id)
        self.interpreter.bus.publish(events.InputAnswered(str(request_id), str(data.get("content") or "")))

    def _client_frame(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "call":
            self._spawn(self._call(data))
        elif kind == "setting":
            path = str(data.get("path") or "")
            refusal = self.calls.setting_refusal(path)
            if refusal:
                self.error(refusal, "settings")
                return
            self.interpreter.bus.publish(events.SettingChanged(path, data.get("value")))
        elif kind == "allow_rule":
            refusal = self.calls.setting_refusal("allow_rules")
            rule = data.get("rule")
            if refusal:
                self.error(refusal, "settings")
            elif not isinstance(rule, dict):
                self.error("An allow rule must be a JSON object.", "settings")
            elif data.get("action") == "remove":
                self.interpreter.bus.publish(events.AllowRuleRemoved(rule, bool(data.get("save", True))))
            else:
                self.interpreter.bus.publish(events.AllowRuleAdded(rule, bool(data.get("save", True))))
        elif kind == "state":
            self.send(self.state_frame())
        elif kind == "end":  # the client leaves for good: no need to wait for it to resume
            self._spawn(self.server.end_session(self))
        else:
            self.error(f"Unknown client frame type {kind!r}.", "protocol")

    async def _call(self, data: dict[str, Any]) -> None:
        call_id = data.get("call")
        try:
            result = await self.calls.dispatch(str(data.get("method") or ""), data.get("params"))
        except OiError as exc:
            self.send({"role": "server", "type": "result", "call": call_id,
                       "error": {"kind": exc.kind, "message": exc.message,
                                 "detail": getattr(exc, "detail", exc.message)}})
            return
        except Exception as exc:
            log.exception("call %s failed", data.get("method"))
            self.send({"role": "server", "type": "result", "call": call_id,
                       "error": {"kind": "internal", "message": f"The server failed ({type(exc).__name__}: {exc})."}})
            return
        self.send({"role": "server", "type": "result", "call": call_id, "result": result})

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ connections

    def attach(self, ws: Any, last: int | None = None) -> Sender:
        """Start writing to `ws`; with `last`, the client has every frame up to it (a resume)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if last is not None and self.outbox.numbered:
            self.outbox.ack(last, through=True)
        self.ws = ws
        config = self.server.config
        return Sender(self.outbox, ws, window=config.ack_window, resend_after=config.resend_after,
                      attempts=config.resend_attempts, start=None if last is None else last + 1)

    def detach(self, ws: Any) -> None:
        """The connection ended: keep the session for a while so its client can resume it."""
        if self.ws is not ws or self.closed:
            return
        self.ws = None
        self.inbound.reset()
        timeout = self.server.config.session_timeout
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, timeout), lambda: self._spawn(self.server.end_session(self)))

    async def close(self) -> None:
        """Stop what runs, end the kernels and save the conversation."""
        if self.closed:
            return
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        try:
            await self.core.close()
        except Exception:
            log.exception("closing session %s", self.id)
        self._unsubscribe()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
