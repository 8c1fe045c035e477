"""`OpenInterpreter`: settings, the conversation, and the sync and async ways to chat."""

from __future__ import annotations

import asyncio
import atexit
import copy
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from .bus import EventBus
from .checkpoints import DEFAULT_MAX_FILE_SIZE, RestoreResult, RunCheckpoints
from .computer import Computer, NoInput, RunIO
from .errors import OiError
from .events import (
    ErrorRaised, InputWithdrawn, MessageCompleted, MessagesReplaced, Status, StatusChanged, TurnFinished,
)
from .llm import Llm
from .loop_thread import LoopThread
from .settings import SettingsObject, canonical_path
from .surrogates import scrub
from .system_message import DEFAULT_SYSTEM_MESSAGE

if TYPE_CHECKING:  # the approval machinery (and the LMC conversion under it) loads with the first turn
    from .approval import Approver, Decision, PendingCode

DEFAULT_LOOP_MESSAGE = (
    "Keep going with the task; you can run code on my machine. When everything I asked for is finished, "
    "reply with exactly 'The task is done.' If you are blocked on information only I have, reply with exactly "
    "'Please provide more information.' If it cannot be done, reply with exactly 'The task is impossible.'"
)
DEFAULT_LOOP_BREAKERS = ["The task is done.", "The task is impossible.", "Please provide more information."]


class OpenInterpreter(SettingsObject):
    """One conversation with one model and one computer; create several for independent sessions."""

    def __init__(self, **settings: Any) -> None:
        self.bus = EventBus()
        self.llm = Llm(self)
        self.computer = Computer(self)
        self.messages: list[dict[str, Any]] = []
        # Behaviour (names and meanings as the reference documents them)
        self.auto_run = False
        self.safe_mode = "off"
        self.allow_rules: list[dict[str, Any]] = []  # "always allow" rules (oi_core.safety.allow); off when empty
        self.offline = False
        self.verbose = False
        self.debug = False
        self.loop = False
        self.loop_message = DEFAULT_LOOP_MESSAGE
        self.loop_breakers = list(DEFAULT_LOOP_BREAKERS)
        self.loop_max_turns = 25
        self.max_budget: float | None = None
        self.system_message = DEFAULT_SYSTEM_MESSAGE
        self.custom_instructions = ""
        self.user_message_template = "{content}"
        self.always_apply_user_message_template = False
        self.code_output_template = "Code output: {content}\n\nWhat does this output mean, and what comes next (if anything)?"
        self.empty_code_output_template = (
            "The code above ran on my machine and printed nothing. What comes next (if anything)?"
        )
        self.code_output_sender = "user"
        self.os = False
        self.disable_telemetry = True  # accepted for compatibility: oi-tui never sends telemetry
        self.anonymized_telemetry = False
        self.in_terminal_interface = False
        self.multi_line = True
        self.speak_messages = False
        self.plain_text_display = False
        self.highlight_active_line = True
        # Conversation files (see oi_core.conversations)
        self.conversation_history = True
        self.conversation_filename: str | None = None
        self.conversation_history_path: str | None = None
        self.conversation_id = uuid.uuid4().hex[:12]
        self.profile: str | None = None
        self.session_overrides: dict[str, Any] = {}  # start-up flags that outlive profile switches
        # Checkpoints of the files runs change, for undo and rewind (see oi_core.checkpoints)
        self.checkpoints = True
        self.checkpoint_max_file_size = DEFAULT_MAX_FILE_SIZE
        self.run_checkpoints = RunCheckpoints(self)
        # Session state
        self.total_cost = 0.0
        self.total_tokens = 0
        self.status: Status = "idle"
        self._stop_requested = False
        self._loop_thread = LoopThread("oi-core")
        self._autosave_task: asyncio.Future[Any] | None = None
        self._autosave_pending: dict[tuple[str, str], list[dict[str, Any]]] = {}  # conversation -> latest messages
        self._autosave_wake: asyncio.Event | None = None  # wakes the autosave task (new messages, fsync wanted)
        self._unsynced: set[Any] = set()  # files written but not fsync'ed yet (Paths)
        self._unsynced_since = 0.0  # monotonic time of the oldest write not fsync'ed yet
        self._sync_wanted = False  # a turn ended or someone waits: fsync now rather than at the deadline
        for name, value in settings.items():
            self.set_setting(name, value)

    # ------------------------------------------------------------ settings

    def set_setting(self, path: str, value: Any) -> None:
        """Set a setting by dotted path ("llm.model", "computer.emit_images", "auto_run")."""
        from .settings import apply_setting

        apply_setting(self, path, value)

    def get_setting(self, path: str) -> Any:
        target: Any = self
        for part in canonical_path(path).split("."):
            target = getattr(target, part)
        return target

    def _alias_holder(self, path: str) -> Any:
        holder: Any = self
        for part in path.split(".")[:-1]:
            holder = getattr(holder, part)
        return holder

    @property
    def anonymous_telemetry(self) -> bool:
        return False

    # ------------------------------------------------------------ conversation state

    def reset(self) -> None:
        """Forget the conversation and shut down running languages; settings stay."""
        try:
            self.computer.terminate()
        except Exception:
            pass
        self._start_new_conversation()

    async def areset(self) -> None:
        """reset() for callers on an event loop: the languages shut down without blocking it."""
        try:
            await self.computer.aterminate()
        except Exception:
            pass
        self._start_new_conversation()

    def _start_new_conversation(self) -> None:
        self.messages = []
        self.conversation_id = uuid.uuid4().hex[:12]
        self.conversation_filename = None
        self.total_cost = 0.0
        self.bus.publish(MessagesReplaced(0))

    def load_messages(self, messages: list[dict[str, Any]], conversation_id: str | None = None) -> None:
        """Resume: replace the conversation (the model sees the whole history next turn)."""
        self.messages = [dict(m) for m in messages]
        if conversation_id:
            self.conversation_id = conversation_id
        self.bus.publish(MessagesReplaced(len(self.messages)))

    def replace_message(self, index: int, message: dict[str, Any]) -> None:
        """Swap one stored message for an updated copy (a new dict, so a save in flight never sees it half-made)."""
        self.messages[index] = message
        self._message_appended(message, index)

    def add_message(self, message: dict[str, Any]) -> int:
        """Append a message added outside a turn (the note that a run's files were put back); it is saved."""
        return self._append(message)

    def truncate_messages(self, count: int) -> None:
        """Keep the first `count` messages (rewind, %undo); clients re-render and the conversation is saved."""
        self.messages = self.messages[:count]
        self.bus.publish(MessagesReplaced(len(self.messages)))
        if self.conversation_history:
            self._schedule_autosave()

    def _append(self, message: dict[str, Any]) -> int:
        self.messages.append(message)
        index = len(self.messages) - 1
        self._message_appended(message, index)
        return index

    def _message_appended(self, message: dict[str, Any], index: int) -> None:
        self.bus.publish(MessageCompleted(message, index))
        if self.conversation_history:
            self._schedule_autosave()

    def _schedule_autosave(self) -> None:
        """Save off the event loop, coalescing bursts into one write (fsync'ed later: see `_autosave_loop`).

        What to save is captured now (which conversation, and its messages), so a reset or a resume that
        follows at once cannot send the last messages of this conversation to the next one, or lose them.
        """
        from .conversations import conversation_key, store_for

        target = (conversation_key(self), str(store_for(self).path))
        self._autosave_pending.pop(target, None)
        self._autosave_pending[target] = copy.copy(self.messages)
        _flush_at_exit.add(self)
        if self._autosave_task is not None and not self._autosave_task.done():
            if self._autosave_wake is not None:
                self._autosave_wake.set()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._save_pending()
            return
        self._autosave_task = loop.create_task(self._autosave_loop())

    async def _autosave_loop(self) -> None:
        """Write each completed message at once (that survives the process being killed), and fsync what was
        written (that survives an OS crash) when a turn ends or someone waits, else `SYNC_DELAY` after a write."""
        from .conversations import SYNC_DELAY, make_durable

        wake = self._autosave_wake = asyncio.Event()
        try:
            while True:
                if self._autosave_pending:
                    target = next(iter(self._autosave_pending))
                    snapshot = self._autosave_pending.pop(target)
                    try:
                        path = await asyncio.to_thread(self._autosave_now, snapshot, target, False)
                    except Exception as exc:  # disk full, permissions, saved elsewhere: say so, keep going
                        self._report_save_failure(exc)
                        continue
                    if path is not None:
                        if not self._unsynced:
                            self._unsynced_since = time.monotonic()
                        self._unsynced.add(path)
                    continue
                if not self._unsynced:
                    return
                wait = self._unsynced_since + SYNC_DELAY - time.monotonic()
                if not self._sync_wanted and wait > 0:
                    wake.clear()
                    try:
                        await asyncio.wait_for(wake.wait(), wait)
                    except TimeoutError:
                        pass
                    continue
                self._sync_wanted = False
                paths, self._unsynced = self._unsynced, set()
                try:
                    await asyncio.to_thread(make_durable, paths)
                except Exception as exc:
                    self._report_save_failure(exc)
        finally:
            self._autosave_wake = None
            self._sync_wanted = False  # a wish left by a flush that came after the last fsync is not the next turn's

    def _report_save_failure(self, exc: Exception) -> None:
        from .conversations import ConversationRelocated

        text = str(exc) if isinstance(exc, ConversationRelocated) else f"Could not save the conversation: {exc}"
        self.bus.publish(ErrorRaised("conversation", text))

    def _sync_soon(self) -> None:
        """On the loop: fsync what the autosave wrote as soon as it is written (a turn ended, someone waits)."""
        if self._autosave_task is not None and not self._autosave_task.done():
            self._sync_wanted = True
            if self._autosave_wake is not None:
                self._autosave_wake.set()

    def _save_pending(self) -> None:
        while self._autosave_pending:
            target = next(iter(self._autosave_pending))
            self._autosave_now(self._autosave_pending.pop(target), target)

    def _autosave_now(self, snapshot: list[dict[str, Any]] | None = None,
                      target: tuple[str, str] | None = None, durable: bool = True) -> Any:
        from . import conversations

        conversation_id, folder = target if target is not None else (None, None)
        return conversations.autosave(self, self.messages if snapshot is None else snapshot,
                                      conversation_id=conversation_id, folder=folder, durable=durable)

    async def flush_autosave(self) -> None:
        """Wait until every appended message is written and fsync'ed."""
        while self._autosave_task is not None and not self._autosave_task.done():
            self._sync_soon()
            await asyncio.shield(self._autosave_task)

    def _wait_for_autosave(self) -> None:
        """From outside the core's loop: block until a save in flight is on disk (chat() returns after it)."""
        task = self._autosave_task
        if task is None or task.done():
            return
        loop = task.get_loop()
        if loop.is_closed() or not loop.is_running():
            return
        try:
            if asyncio.get_running_loop() is loop:
                return  # on the loop itself: nothing can be waited for here
        except RuntimeError:
            pass
        asyncio.run_coroutine_threadsafe(self.flush_autosave(), loop).result(timeout=60)

    def _save_at_exit(self) -> None:
        """At interpreter exit: let a save in flight finish, then write whatever is not on disk yet."""
        try:
            self._wait_for_autosave()
        except Exception:
            pass
        try:
            self._save_pending()  # what a loop that is gone did not get to
            if self.conversation_history and self.messages:
                self._autosave_now(list(self.messages))
            if self._unsynced:  # written by a loop that was stopped before its fsync
                from .conversations import make_durable

                paths, self._unsynced = self._unsynced, set()
                make_durable(paths)
        except Exception as exc:  # nobody is left to show an event to
            import sys

            print(f"oi-tui: could not save the conversation at exit: {exc}", file=sys.stderr)

    def set_status(self, status: Status, detail: str = "") -> None:
        """Say what the core is doing now, for helpers outside the respond loop (asking again before a run)."""
        self._set_status(status, detail)

    def _set_status(self, status: Status, detail: str = "") -> None:
        self.status = status
        self.bus.publish(StatusChanged(status, detail))

    # ------------------------------------------------------------ async API

    async def achat(
        self,
        message: str | dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        approve: Approver | None = None,
        io: RunIO | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream LMC chunks for one user turn.

        `approve` decides about each code block that needs approval. Without one, asking for the next
        chunk after a `confirmation` chunk approves the code; `aclose()` or dropping the generator there
        refuses it, and the conversation records that it did not run.
        """
        start = len(self.messages)
        if message is not None:  # image paths named in the text are looked at on disk: off the event loop
            for item in await asyncio.to_thread(self._user_items, message):
                self._append(item)
        self._stop_requested = False
        from .respond import Responder  # with the fence parser and tool calls, ~4 ms the launch does not need

        responder = Responder(self, approve, io or NoInput())
        try:
            async with aclosing(responder.run()) as chunks:
                async for chunk in chunks:
                    yield chunk
        except asyncio.CancelledError:
            responder.reason = "stopped"
            raise
        except OiError as exc:
            responder.reason = "budget" if exc.kind == "budget" else "error"
            self.bus.publish(ErrorRaised(exc.kind, exc.message))
            self._withdraw_failed_input(start)
            raise
        except Exception:
            responder.reason = "error"
            raise
        finally:
            if self.run_checkpoints.recording:  # the turn's runs are recorded when it ends
                await asyncio.shield(self.run_checkpoints.settle())
            self._set_status("idle")
            self._sync_soon()  # the turn's messages reach the disk now (chat() waits for it)
            self.bus.publish(TurnFinished(responder.reason))

    def _withdraw_failed_input(self, start: int) -> None:
        """Take back the input of a turn that failed before anything came of it, so a retry is not a duplicate."""
        added = self.messages[start:]
        if not added or len(self.messages) < start or any(m.get("role") != "user" for m in added):
            return  # the model replied or code ran: that is part of the conversation now
        del self.messages[start:]
        text = next((str(m.get("content") or "") for m in added if m.get("type", "message") == "message"), "")
        self.bus.publish(InputWithdrawn(text, len(added)))
        if self.conversation_history:
            self._schedule_autosave()

    def _user_items(self, message: str | dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The LMC messages for what the user sent (a string may name images on disk)."""
        if isinstance(message, str):
            from .images import user_message_with_images

            message = scrub(message)  # a lone surrogate would break autosave and every later request
            return list(user_message_with_images(message))
        items = [message] if isinstance(message, dict) else list(message)
        out = []
        for item in items:
            item = dict(item)
            item.setdefault("type", "message")
            item.setdefault("role", "user")
            out.append(item)
        return out

    async def astop(self) -> None:
        """Stop generation or interrupt the running code; the conversation stays intact."""
        self._stop_requested = True
        self._set_status("stopping")
        await self.computer.astop()

    async def aundo(self) -> RestoreResult:
        """Put back the files the last run created, changed or deleted; the model is told it was undone."""
        return await self.run_checkpoints.undo()

    async def arewind(self, message_index: int, *, replay_kernel: bool = False) -> RestoreResult:
        """Put back the files of every run from message `message_index` on and continue from there.

        The conversation as it was is kept as a fork; with `replay_kernel`, the approved Python blocks
        before that message run again in a fresh kernel (stopping at the first error).
        """
        return await self.run_checkpoints.rewind(message_index, replay_kernel=replay_kernel)

    # ------------------------------------------------------------ sync API (the reference's shape)

    def chat(
        self,
        message: str | dict[str, Any] | list[dict[str, Any]] | None = None,
        display: bool = True,
        stream: bool = False,
        blocking: bool = True,
    ) -> Any:
        """Chat as the reference documents: returns the new messages, or a generator of chunks with stream=True."""
        if message is None and display and not stream:
            from .display import interactive_chat

            return interactive_chat(self)
        approve = self._default_approver(display=display, stream=stream)
        io: RunIO = _TerminalInput() if display else NoInput()
        if stream:
            return self._stream_sync(message, approve, io, display)
        before = len(self.messages)
        for _ in self._stream_sync(message, approve, io, display):
            pass
        return self.messages[before:]

    def _stream_sync(self, message: Any, approve: Approver | None, io: RunIO, display: bool) -> Iterator[dict[str, Any]]:
        chunks = self._loop_thread.iterate(self.achat(message, approve=approve, io=io), hold=_is_confirmation)
        if display:
            from .display import print_chunks

            chunks = print_chunks(chunks)
        try:
            yield from chunks
        finally:
            self._wait_for_autosave()  # returning means saved: a script may exit right after chat()

    def _default_approver(self, display: bool, stream: bool) -> Approver | None:
        if display:
            from .display import terminal_approver

            return terminal_approver
        if stream:
            return None  # documented: reading on past the confirmation chunk approves; breaking refuses
        return _decline  # nobody to ask: code is declined and the model is told

    def respond(self) -> Iterator[dict[str, Any]]:
        """Continue from the current messages without adding a user message (reference-compatible)."""
        return self._stream_sync(None, self._default_approver(False, True), NoInput(), False)

    def stop(self) -> None:
        self._loop_thread.run(self.astop())

    def undo(self) -> RestoreResult:
        """aundo() for scripts: `interpreter.undo().describe()` says what was put back."""
        return self._loop_thread.run(self.aundo())

    def rewind(self, message_index: int, replay_kernel: bool = False) -> RestoreResult:
        """arewind() for scripts."""
        return self._loop_thread.run(self.arewind(message_index, replay_kernel=replay_kernel))

    def terminate(self) -> None:
        try:
            self._wait_for_autosave()  # written and fsync'ed before the loop it runs on may stop
        except Exception:
            pass
        try:
            self._loop_thread.run(self.computer.aterminate())
        finally:
            self._loop_thread.stop()


async def _decline(pending: PendingCode) -> Decision:
    from .approval import Decision

    return Decision("skip")


def _is_confirmation(chunk: dict[str, Any]) -> bool:
    """The stream pauses after this chunk until the reader asks for more: asking on is the approval."""
    return chunk.get("type") == "confirmation"


class _ExitFlush:
    """Interpreters with unsaved messages, saved once more when Python exits (weakly held)."""

    def __init__(self) -> None:
        self._interpreters: "weakref.WeakSet[OpenInterpreter]" = weakref.WeakSet()
        self._registered = False

    def add(self, interpreter: OpenInterpreter) -> None:
        if not self._registered:
            self._registered = True
            atexit.register(self.run)
        self._interpreters.add(interpreter)

    def run(self) -> None:
        for interpreter in list(self._interpreters):
            interpreter._save_at_exit()


_flush_at_exit = _ExitFlush()


class _TerminalInput:
    async def request_input(self, prompt: str, password: bool = False) -> str:
        import getpass

        reader = getpass.getpass if password else input
        return await asyncio.to_thread(reader, prompt)
