"""The chat screen: transcript, code editor, console, approval card and input box, driven by bus events.

Everything here happens in `@on` handlers on the app's loop. The bridge worker only posts
`CoreEventsArrived`; the screen applies each event to its widgets, and publishes the user's
decisions back on the bus.

Approval is deliberate: focus never moves when code arrives, the screen's approval keys are control
keys (ctrl+r run, ctrl+g edit, esc don't run), and the card's letter keys work only once the user has
moved onto the card. Messages sent while a turn runs are queued visibly and sent when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import TextArea

from oi_core.events import (
    AllowRuleAdded,
    ApprovalRequested,
    ApprovalResolved,
    ChunkEmitted,
    CodeAllowedByRule,
    CodeApproved,
    CodeSkipped,
    CostUpdated,
    ErrorRaised,
    Event,
    FilesRestored,
    InfoShown,
    InputAnswered,
    InputRequested,
    InputWithdrawn,
    KernelReplayProgressed,
    MessagesReplaced,
    RunFilesChanged,
    ScanFinished,
    ScanRequested,
    SettingsApplied,
    StatusChanged,
    StopRequested,
    TurnFinished,
    UserMessageSent,
)
from oi_core.client import ConnectionLost, ConnectionRestored
from oi_core.sanitize import terminal_safe

from ..bridge import BusBridge, CoreEventsArrived
from ..checkpoint_view import CheckpointView
from ..widgets.approval_card import ARMING_DELAY, ApprovalCard, PendingApproval
from ..widgets.code_editor import CodeEditor, line_marks, shown_code
from ..widgets.console import ConsolePane
from ..widgets.key_footer import KeyFooter
from ..widgets.prompt_input import PromptInput
from ..widgets.queued_messages import QueuedMessages
from ..widgets.status_line import StatusLine
from ..widgets.transcript import Transcript

if TYPE_CHECKING:  # the message widgets load after the first frame (oi_tui.preload), or with the first message
    from ..widgets.chat_messages import AssistantMessage
    from ..widgets.code_block import CodeBlock

#: How often streamed code and console output are written to their widgets.
FLUSH_INTERVAL = 1 / 30
#: How often a streaming reply is rendered (each render may change the layout: keep it a few per second).
REPLY_FLUSH_INTERVAL = 0.1
#: While the user is typing (OiApp.typing), the reply waits, but never longer than this.
REPLY_MAX_WAIT = 0.6

ERROR_TITLES = {
    "llm": "Model error", "budget": "Budget reached", "kernel": "Code runner error",
    "settings": "Settings", "conversation": "Conversation", "input": "Input", "busy": "Busy",
    "approval": "Approval", "checkpoint": "Checkpoints",
}

#: Error kinds that end a turn without its reply: marked inline in the transcript, not only in a toast.
TURN_FAILURES = ("llm", "budget", "internal")

#: The block's state in the transcript after each way of not running it.
NOT_RUN_STATES = {"skip": "skipped", "escape": "not_run", "fix": "fix"}
RESOLVED_STATES = {"skipped": "skipped", "escaped": "not_run", "fix": "fix", "stopped": "stopped",
                   "refused": "not_run"}


class ChatScreen(Screen):
    """The main screen of oi-tui."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#prompt"  # Textual's default, the first focusable widget, is the code editor: focused, then blurred
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [
        Binding("ctrl+r", "run_code", "Run", id="run_code", priority=True,
                tooltip="Run exactly the code shown in the editor"),
        Binding("ctrl+r", "run_edited", "Run edited", id="run_edited", priority=True,
                tooltip="Run the code as you edited it"),
        Binding("ctrl+g", "edit_code", "Edit", id="edit_code", priority=True,
                tooltip="Edit the pending code in the editor before running it"),
        Binding("escape", "cancel_edit", "Cancel edit", id="cancel_edit", priority=True,
                tooltip="Put the model's code back and leave the editor"),
        Binding("escape", "dismiss_code", "Don't run", id="dismiss_code", priority=True,
                tooltip="Don't run the code; the model is told it was not run"),
        Binding("escape", "stop", "Stop", id="stop", priority=True, tooltip="Stop generation or the running code"),
        Binding("ctrl+c", "dismiss_code", "Don't run", id="dismiss_code_alt", priority=True, show=False),
        Binding("ctrl+c", "stop", "Stop", id="stop_alt", priority=True, show=False),
        Binding("tab", "focus_card", "Approval card", id="focus_approval", priority=True,
                tooltip="Move to the approval card, where s, f, c and a skip with a reason, ask for a fix, "
                        "scan and add an allow rule"),
        Binding("ctrl+l", "focus_prompt", "Prompt", id="focus_prompt", show=False),
        Binding("ctrl+t", "app.toggle_auto_run", "Auto-run", id="toggle_auto_run",
                tooltip="Run code without asking"),
        Binding("f2", "toggle_zoom", "Zoom", id="toggle_zoom",
                tooltip="Give the whole width to the conversation (editor and console hide)"),
        # reading the conversation from the prompt (the prompt keeps home/end while it has text)
        Binding("pageup", "scroll_transcript('page_up')", "Scroll", id="transcript.page_up", priority=True,
                key_display="PgUp/PgDn", tooltip="Scroll the conversation a page up or down"),
        Binding("pagedown", "scroll_transcript('page_down')", "Scroll", id="transcript.page_down", priority=True,
                show=False),
        Binding("home", "scroll_transcript('top', True)", "Top", id="transcript.top", priority=True, show=False,
                tooltip="Go to the start of the conversation (when the prompt is empty)"),
        Binding("end", "scroll_transcript('newest', True)", "Newest", id="transcript.newest", priority=True,
                tooltip="Jump to the newest message and follow it again (when the prompt is empty)"),
        Binding("ctrl+home", "scroll_transcript('top')", "Top", id="transcript.top_alt", priority=True, show=False),
        Binding("ctrl+end", "scroll_transcript('newest', False, True)", "Newest", id="transcript.newest_typing",
                priority=True, tooltip="Jump to the newest message and follow it again (End is the prompt's now)"),
        Binding("ctrl+end", "scroll_transcript('newest')", "Newest", id="transcript.newest_alt", priority=True,
                show=False),
        Binding("f3", "toggle_code", "Expand code", id="transcript.toggle_code",
                tooltip="Show all the code and output of the code block in view, or fold it again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        # The class the first resize would give (a class change restyles every widget: ~5 ms before the first frame)
        width = self.app.size.width
        self.add_class(max((edge, name) for edge, name in self.HORIZONTAL_BREAKPOINTS if width >= edge)[1])
        self.status = "idle"
        self._reply: AssistantMessage | None = None
        self._block: CodeBlock | None = None
        self._pending_code: list[str] = []
        self._pending_output: list[str] = []
        self._pending: PendingApproval | None = None
        self._flush_timer: Timer | None = None
        self._reply_timer: Timer | None = None
        self._reply_flushed_at = 0.0
        self._was_following = True
        self._had_more_to_read = False  # the conversation was taller than its pane (or had older messages)
        self._more_check_due = False
        self._prompt_empty = True
        self._drain_timer: Timer | None = None
        self._stop_asked = False  # Esc in this turn: no more of its reply is drawn, even one not begun yet
        self._last_sent: tuple[str, Widget | None] | None = None  # until its turn ends: re-queued if "busy"
        self._approved: PendingApproval | None = None  # sent, not yet confirmed by ApprovalResolved
        self.checkpoint_view = CheckpointView(self)  # the line under each run's block, undo/rewind notices
        self._handlers: dict[type[Event], Callable[[Any], Awaitable[None]]] = {
            ChunkEmitted: self._apply_chunk,
            ApprovalRequested: self._show_approval,
            ScanFinished: self._show_scan,
            ApprovalResolved: self._approval_resolved,
            CodeAllowedByRule: self._show_allowed_by_rule,
            InputRequested: self._ask_for_input,
            StatusChanged: self._show_status,
            ErrorRaised: self._notify_error,
            InputWithdrawn: self._offer_withdrawn_input,
            CostUpdated: self._show_cost,
            InfoShown: self._show_info,
            TurnFinished: self._finish_turn,
            MessagesReplaced: self._replace_messages,
            SettingsApplied: self._show_settings,
            RunFilesChanged: self.checkpoint_view.show_changes,
            FilesRestored: self.checkpoint_view.show_restored,
            KernelReplayProgressed: self.checkpoint_view.show_replay,
            ConnectionLost: self._show_connection_lost,
            ConnectionRestored: self._show_connection_restored,
        }
        self._offline = False

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield Transcript(id="transcript")
            with Vertical(id="workbench"):
                yield CodeEditor(id="editor")
                yield ConsolePane(id="console")
        yield ApprovalCard(id="approval", classes="-hidden")
        yield QueuedMessages(id="queued")
        yield PromptInput(id="prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        bridge = BusBridge(self.client.bus, self)
        self.run_worker(bridge.run(), name="bus-bridge", group="bus-bridge", exit_on_error=False)
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self.flush_buffers, pause=True)
        self._reply_timer = self.set_interval(REPLY_FLUSH_INTERVAL, self._flush_reply, pause=True)
        self.watch(self.transcript, "scroll_y", lambda _old, _new: self._transcript_scrolled(), init=False)
        self.watch(self.transcript, "virtual_size", lambda _old, _new: self._transcript_grew(), init=False)
        self._show_settings_now()
        prompt = self.query_one(PromptInput)
        prompt.take_back_queued = self.queued.pop_last
        prompt.focus()

    def mount_hidden_parts(self) -> None:
        """The approval card's parts and the console's answer line, not in the first frame (each mounts once).

        The app calls this when typing first pauses after the first frame; a sent message calls it at once."""
        self.call_later(self.approval_card.build)
        self.console.build()

    def on_worker_state_changed(self, event: Any) -> None:
        self.app.report_worker_failure(event)  # type: ignore[attr-defined]  # the app tells every worker failure

    # ------------------------------------------------------------ helpers

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def editor(self) -> CodeEditor:
        return self.query_one(CodeEditor)

    @property
    def console(self) -> ConsolePane:
        return self.query_one(ConsolePane)

    @property
    def approval_card(self) -> ApprovalCard:
        return self.query_one(ApprovalCard)

    @property
    def queued(self) -> QueuedMessages:
        return self.query_one(QueuedMessages)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def pending(self) -> PendingApproval | None:
        """The block waiting for the user's decision, if any."""
        return self._pending

    @property
    def busy(self) -> bool:
        return self.status != "idle"

    @property
    def client(self) -> Any:
        """The core (oi_core.client.CoreClient): in this process or on a server."""
        return self.app.client  # type: ignore[attr-defined]

    def publish(self, event: Event) -> None:
        self.client.publish(event)

    def _wake_flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.resume()

    def flush_buffers(self) -> None:
        """Write coalesced code and output to the editor, the code block and the console."""
        if self._pending_code:
            text = "".join(self._pending_code)
            self._pending_code.clear()
            self.editor.append_code(text)
            if self._block is not None:
                self._block.append_code(text)
        if self._pending_output:
            text = "".join(self._pending_output)
            self._pending_output.clear()
            if self._block is not None:
                self._block.append_output(text)
        self.console.flush()
        if self._flush_timer is not None:
            self._flush_timer.pause()

    async def _flush_reply(self) -> None:
        """Render the streaming reply's new text, unless the user is typing (then at most every REPLY_MAX_WAIT)."""
        reply = self._reply
        if reply is None or not reply.unflushed:
            if self._reply_timer is not None:
                self._reply_timer.pause()
            return
        now = time.monotonic()
        if self.app.typing() and now - self._reply_flushed_at < REPLY_MAX_WAIT:  # type: ignore[attr-defined]
            return
        self._reply_flushed_at = now
        await reply.flush()

    async def _finish_reply(self) -> None:
        if self._reply is not None:
            reply, self._reply = self._reply, None
            await reply.finish()

    # ------------------------------------------------------------ bus events

    @on(CoreEventsArrived)
    async def apply_core_events(self, message: CoreEventsArrived) -> None:
        try:
            for event in message.events:
                handler = self._handlers.get(type(event))
                if handler is not None:
                    await handler(event)
        finally:
            message.handled.set()  # the bridge sends the next burst

    async def _apply_chunk(self, event: ChunkEmitted) -> None:
        chunk = event.chunk
        role, kind, fmt = chunk.get("role"), chunk.get("type"), chunk.get("format")
        content = chunk.get("content")
        if role == "assistant" and self._stop_asked:
            return  # sent before the core took the stop in: what arrived is saved, never drawn (see action_stop)
        if role == "assistant" and kind == "message":
            if chunk.get("end"):
                await self._finish_reply()
            elif chunk.get("start") or self._reply is None:
                self._reply = await self.transcript.add_assistant()
            if content and self._reply is not None:
                await self._reply.write(content)
                if self._reply_timer is not None:
                    self._reply_timer.resume()
        elif role == "assistant" and kind == "code":
            if chunk.get("start") or self._block is None:
                await self._finish_reply()
                self.flush_buffers()
                self._block = await self.transcript.add_code(str(fmt or "text"),
                                                             guessed=bool(chunk.get("language_guessed")))
                self.editor.show_code(str(fmt or "text"))
            if chunk.get("end"):
                self.flush_buffers()
            elif content:
                self._pending_code.append(content)
                self._wake_flush()
        elif role == "computer" and kind == "console":
            if chunk.get("start"):
                self.flush_buffers()
                if self._block is not None:
                    self._block.set_state("running")
                self.console.write_note(f"── {self._block.language if self._block else 'run'} ──")
            elif chunk.get("end"):
                self.flush_buffers()
                self.editor.active_line = None
                if self._block is not None and self._block.state == "running":
                    # the core reports "stopping" before the interrupted run's end chunk
                    self._block.set_state("stopped" if self.status == "stopping"
                                          else "failed" if chunk.get("status") == "error" else "done")
            elif fmt == "active_line":
                self.flush_buffers()
                self.editor.active_line = int(content) - 1 if isinstance(content, int) and content > 0 else None
            elif isinstance(content, str) and content and chunk.get("not_run"):
                self.flush_buffers()
                self.console.write_not_run(self._block.language if self._block is not None else "code", content)
                self._pending_output.append(content)
                self._wake_flush()
            elif isinstance(content, str) and content:
                self.console.buffer(content)
                self._pending_output.append(content)
                self._wake_flush()
        elif role == "computer" and kind == "image" and isinstance(content, str):
            self.flush_buffers()
            block = self._block or await self.transcript.add_code("output")
            await block.add_image(str(fmt), content)
        elif role == "computer" and kind == "code" and fmt == "html" and isinstance(content, str):
            block = self._block or await self.transcript.add_code("output")
            await block.add_html(content)

    async def _show_approval(self, event: ApprovalRequested) -> None:
        """Show the complete block and its card; focus stays where the user is typing."""
        self.flush_buffers()
        await self._finish_reply()
        self.editor.show_code(event.language, event.code)
        pending = PendingApproval(
            event.request_id, terminal_safe(event.language), event.code, self.editor.text,
            risks=tuple(event.risks), scan=event.scan, incomplete=event.incomplete, forced=event.forced,
            summary=event.summary,
        )
        if self._block is None:
            self._block = await self.transcript.add_code(event.language, event.code)
        else:
            self._block.set_code(event.code)
        self._block.set_state("pending")
        self._block.mark(incomplete=event.incomplete)
        pending.ready_at = time.monotonic() + ARMING_DELAY  # the card is about to be on screen
        self._pending = pending  # only now: no key acts on a block whose card is not on screen
        self.editor.set_marks(line_marks(pending.risks, pending.findings))
        self.approval_card.show(pending)
        self.query_one(StatusLine).forced = event.forced
        self.refresh_bindings()

    async def _show_scan(self, event: ScanFinished) -> None:
        pending = self._pending
        if pending is None or pending.request_id != event.request_id:
            return
        pending.scan = event.scan
        self._show_marks(pending)
        self.approval_card.show(pending)

    def _show_marks(self, pending: PendingApproval) -> None:
        """Risk marks of what the editor shows; findings only while it still shows the code that was scanned."""
        findings = pending.findings if self.editor.text == pending.shown else ()
        self.editor.set_marks(line_marks(pending.current_risks, findings))

    async def _approval_resolved(self, event: ApprovalResolved) -> None:
        """The core ended the approval (Stop, or another client decided): close the card if it is still open."""
        if self._approved is not None and self._approved.request_id == event.request_id:
            self._approved = None
        pending = self._pending
        if pending is None or pending.request_id != event.request_id:
            return
        if self._block is not None and event.outcome != "approved":  # approved: the run's chunks follow
            self._block.set_state(RESOLVED_STATES.get(event.outcome, "not_run"))
        self._close_approval()

    async def _show_allowed_by_rule(self, event: CodeAllowedByRule) -> None:
        """A block ran without asking because of an allow rule: say so on the block, never silently."""
        self.flush_buffers()
        description = event.description or str(event.rule)
        if self._block is not None:
            self._block.mark(allowed_by=description)
        self.app.notify(f"Ran without asking: allowed by the rule “{description}”.", title="Allow rule", timeout=5)

    async def _ask_for_input(self, event: InputRequested) -> None:
        self.remove_class("-zoomed")  # the answer is typed in the console pane
        self.flush_buffers()
        typing = isinstance(self.focused, PromptInput) and bool(self.query_one(PromptInput).text.strip())
        self.console.ask(event.request_id, event.prompt, event.password, focus=not typing)  # no focus jump

    async def _show_status(self, event: StatusChanged) -> None:
        self.status = event.status
        if event.status == "idle":
            self._stop_asked = False
        self.query_one(StatusLine).state = event.status
        self.refresh_bindings()

    async def _notify_error(self, event: ErrorRaised) -> None:
        title = ERROR_TITLES.get(event.kind, "Error")
        severity = "warning" if event.kind == "busy" else "error"
        if event.kind == "approval" and self._approved is not None and self._pending is None:
            await self._reopen(self._approved)  # the core refused the approval: the block still waits
        if event.kind == "busy" and self._last_sent is not None:
            # the core was still finishing a turn: keep the message and send it when that turn is over
            (text, shown), self._last_sent = self._last_sent, None
            if shown is not None:
                await shown.remove()
            await self.queued.add(text)
            self._drain_soon()
            return
        if event.kind in TURN_FAILURES:  # a lasting mark in the transcript; the toast fades
            await self.transcript.add_failure(f"{title}: {terminal_safe(event.message)}")
        self.app.notify(terminal_safe(event.message), title=title, severity=severity, timeout=8, markup=False)

    async def _offer_withdrawn_input(self, event: InputWithdrawn) -> None:
        """The failed message was taken back out of the conversation: mark it, and put it back in the prompt."""
        self.transcript.mark_withdrawn(event.text)
        prompt = self.query_one(PromptInput)
        if event.text and not prompt.text.strip():
            prompt.load_text(event.text)
            prompt.move_cursor(prompt.document.end)

    async def _show_cost(self, event: CostUpdated) -> None:
        self.query_one(StatusLine).cost = event.total_cost

    async def _show_info(self, event: InfoShown) -> None:
        text = f"{event.title}\n{event.text}" if event.title else event.text
        await self.transcript.add_notice(text)

    async def _finish_turn(self, event: TurnFinished) -> None:
        self.flush_buffers()
        await self._finish_reply()
        self._close_approval()
        self.console.cancel_question()
        self.editor.active_line = None
        if self._block is not None and self._block.state in ("running", "pending", "editing"):
            self._block.set_state("stopped" if event.reason == "stopped" else "skipped"
                                  if event.reason == "skipped" else "done")
        self._block = None
        self._last_sent = None
        self._approved = None
        self.refresh_bindings()
        if event.reason == "stopped":  # after the frame that says "ready": mounting the toast delays that frame
            self.call_after_refresh(self.app.notify, "Stopped.", timeout=3)
        if self.focused is None or not isinstance(self.focused, PromptInput):
            self.query_one(PromptInput).focus()
        self._drain_soon()

    async def _replace_messages(self, event: MessagesReplaced) -> None:
        self.flush_buffers()
        await self._finish_reply()
        self._close_approval()
        self._block = None
        state = self.client.state
        self.editor.show_code("", "")
        self.console.reset()
        await self.transcript.show_messages(list(state.messages))
        await self.checkpoint_view.decorate(list(state.messages))
        self.query_one(StatusLine).cost = state.total_cost

    async def _show_settings(self, event: SettingsApplied) -> None:
        self._show_settings_now()

    def _show_settings_now(self) -> None:
        state = self.client.state
        status = self.query_one(StatusLine)
        status.model = str(state.model or "")
        status.profile = str(state.profile or "")
        status.auto_run = bool(state.auto_run)
        status.safe_mode = str(state.safe_mode or "off")
        status.cost = float(state.total_cost or 0.0)

    async def _show_connection_lost(self, event: ConnectionLost) -> None:
        """A remote core is out of reach: say so once, keep what the user types (it is sent when it is back)."""
        self.query_one(StatusLine).state = "offline · reconnecting…"
        if not self._offline:
            self._offline = True
            self.app.notify(f"{event.reason} Reconnecting; what you type is kept and sent when it is back.",
                            title="Connection", severity="warning", timeout=8)

    async def _show_connection_restored(self, event: ConnectionRestored) -> None:
        self._offline = False
        self.query_one(StatusLine).state = self.status
        self.app.notify(event.detail or "Connected again; nothing was lost.", title="Connection",
                        severity="information" if event.resumed else "warning", timeout=6)

    # ------------------------------------------------------------ the user's side

    @on(PromptInput.MessageSubmitted)
    async def send_message(self, event: PromptInput.MessageSubmitted) -> None:
        """Send now, or queue it visibly while a turn runs (it is sent when the turn ends)."""
        if self.busy or self.app.busy or self.queued.texts:  # type: ignore[attr-defined]
            await self.queued.add(event.text)
            self._drain_soon()
            return
        await self._send_now(event.text)

    async def _send_now(self, text: str) -> None:
        self.mount_hidden_parts()  # while the model thinks: an approval may come next
        shown = None
        if not text.startswith("%"):
            shown = await self.transcript.add_user(text)
            self.transcript.anchor()
        self._last_sent = (text, shown)
        self.publish(UserMessageSent(text))

    def _drain_soon(self) -> None:
        """Check for a queued message to send until the queue is empty."""
        if self._drain_timer is None:
            self._drain_timer = self.set_interval(0.1, self._drain_queue)
        else:
            self._drain_timer.resume()

    async def _drain_queue(self) -> None:
        if not self.queued.texts:
            if self._drain_timer is not None:
                self._drain_timer.pause()
            return
        if self.busy or self.app.busy or self._pending is not None:  # type: ignore[attr-defined]
            return
        text = await self.queued.pop_first()
        if text is not None:
            await self._send_now(text)

    @on(QueuedMessages.Cancelled)
    def forget_queued(self, event: QueuedMessages.Cancelled) -> None:
        self.prompt.remember(event.text)  # not sent; ↑ still finds it
        self.app.notify("Queued message cancelled (↑ in the prompt brings it back).", timeout=3)

    # ------------------------------------------------------------ approval: the card and its keys

    @on(ApprovalCard.ActionChosen)
    def apply_card_action(self, event: ApprovalCard.ActionChosen) -> None:
        event.stop()
        action = event.action
        if action == "run":
            self.run_code(event.pressed_at)
        elif action == "edit":
            self.action_edit_code()
        elif action == "dismiss":
            self.action_dismiss_code()
        elif action == "cancel_edit":
            self.action_cancel_edit()
        elif action in ("skip", "fix"):
            self.skip_code(how=action, reason=event.text)
        elif action == "scan":
            self.request_scan()
        elif action == "allow":
            self.offer_allow_rules()
        elif action == "add_rule" and event.rule is not None:
            self.add_allow_rule(event.rule, event.text)
        elif action == "manage_rules":
            self.app.action_allow_rules()  # type: ignore[attr-defined]

    def _code_to_run(self, pending: PendingApproval) -> tuple[str, bool]:
        """(code, edited): the model's exact bytes unless the user changed what the editor shows."""
        text = self.editor.text
        if text == pending.shown and shown_code(pending.code) == pending.shown:
            return pending.code, False
        return text, text != pending.shown

    def action_run_code(self) -> None:
        """ctrl+r: approve the pending code (a key typed before the card was shown does nothing)."""
        self.run_code(self.app.last_key_time)  # type: ignore[attr-defined]

    def action_run_edited(self) -> None:
        self.action_run_code()

    def run_code(self, pressed_at: float) -> None:
        """Approve the pending code: what runs is exactly the text in the editor."""
        pending = self._pending
        if pending is None:
            return
        if not pending.ready_for(pressed_at):
            self.approval_card.flash("The code has just arrived: read it, then press ctrl+r again.")
            return
        _code, edited = self._code_to_run(pending)
        concerns = []
        if pending.incomplete and not edited:
            concerns.append("it was cut off by the token limit, so it is incomplete")
        if pending.scanning:
            concerns.append("its safety scan has not finished")
        if not concerns:
            self._approve(pending, confirmed=False)
            return

        def decided(yes: bool | None) -> None:
            if yes and self._pending is pending:
                self._approve(pending, confirmed=True)

        from .confirm import ConfirmScreen

        question = "Run this code although " + " and ".join(concerns) + "?"
        self.app.push_screen(ConfirmScreen(question, yes="Run anyway", no="Back"), decided)

    def _approve(self, pending: PendingApproval, confirmed: bool) -> None:
        code, edited = self._code_to_run(pending)
        if self._block is not None:
            self._block.set_code(code)
            self._block.mark(edited=edited)
        self._close_approval()
        self._approved = pending
        self.publish(CodeApproved(pending.request_id, code,
                                  confirmed_incomplete=pending.incomplete and (confirmed or edited)))

    async def _reopen(self, pending: PendingApproval) -> None:
        """Show a block's card again (the core refused an approval and keeps waiting for a decision)."""
        self._approved = None
        pending.editing = False
        self._pending = pending
        self.editor.show_code(pending.language, pending.code)
        self._show_marks(pending)
        if self._block is not None:
            self._block.set_state("pending")
        self.approval_card.show(pending)
        self.refresh_bindings()

    def action_edit_code(self) -> None:
        """Make the pending block editable; the card and footer switch to the edit keys."""
        pending = self._pending
        if pending is None or pending.editing:
            return
        self.remove_class("-zoomed")  # the editor must be on screen to edit in it
        pending.editing = True
        self.editor.begin_editing()
        self.approval_card.show(pending)
        if self._block is not None:
            self._block.set_state("editing")
        self.refresh_bindings()

    def action_cancel_edit(self) -> None:
        """Leave edit mode, putting the model's code back."""
        pending = self._pending
        if pending is None or not pending.editing:
            return
        pending.editing = False
        pending.edited_marks = None
        self.editor.end_editing()
        self.editor.load_text(pending.shown)
        self._show_marks(pending)
        self.approval_card.show(pending)
        if self._block is not None:
            self._block.set_state("pending")
        self.prompt.focus()
        self.refresh_bindings()

    def action_dismiss_code(self) -> None:
        """Esc on a pending block: not run, and the model is told so."""
        self.skip_code(how="escape")

    def skip_code(self, how: str = "skip", reason: str = "") -> None:
        pending = self._pending
        if pending is None:
            return
        if self._block is not None:
            self._block.set_state(NOT_RUN_STATES.get(how, "skipped"))
        self._close_approval()
        self.publish(CodeSkipped(pending.request_id, reason=reason, how=how))  # type: ignore[arg-type]

    def request_scan(self) -> None:
        """Safe mode "ask": scan the pending block now; the card shows progress until ScanFinished."""
        pending = self._pending
        if pending is None or not pending.can_scan:
            return
        from oi_core.safety.types import ScanResult

        pending.scan = ScanResult("scanning")
        pending.scan_started = time.monotonic()
        self.approval_card.show(pending)
        self.publish(ScanRequested(pending.request_id))

    def offer_allow_rules(self) -> None:
        """Scoped "always allow" rules for blocks like the pending one, listed on the card."""
        from oi_core.safety.allow import describe, suggest_rules

        pending = self._pending
        if pending is None:
            return
        rules = [(describe(rule), rule.to_dict()) for rule in suggest_rules(pending.language, pending.code)]
        if not rules:
            self.approval_card.flash(f"No allow rule fits this {pending.language} block.")
            return
        self.approval_card.offer_rules(rules)

    def add_allow_rule(self, rule: dict[str, Any], description: str) -> None:
        self.publish(AllowRuleAdded(rule))
        self.approval_card.flash(f"Rule added: {description} run without asking from now on. "
                                 "This block still waits: ctrl+r runs it.", seconds=6)

    def _close_approval(self) -> None:
        card = self.approval_card
        focused = self.focused
        card_had_focus = focused is not None and (focused is card or card in focused.ancestors)
        was_editing = self._pending is not None and self._pending.editing
        self._pending = None
        self.editor.end_editing()
        self.editor.set_marks({})
        card.hide()
        self.query_one(StatusLine).forced = ""
        if card_had_focus or (was_editing and focused is self.editor):
            self.prompt.focus()
        self.refresh_bindings()

    @on(TextArea.Changed, "#prompt")
    def prompt_changed(self, event: TextArea.Changed) -> None:
        """Home/End belong to the prompt while it has text: the footer follows."""
        empty = not self.prompt.text
        if empty != self._prompt_empty:
            self._prompt_empty = empty
            self.refresh_bindings()

    @on(TextArea.Changed, "#editor")
    def editor_changed(self, event: TextArea.Changed) -> None:
        """While editing, risk marks follow the text (findings only hold for the code that was scanned)."""
        pending = self._pending
        if pending is None or not pending.editing:
            return
        from oi_core.safety.risk import classify

        text = self.editor.text
        pending.edited_marks = None if text == pending.shown else classify(pending.language, text)
        self._show_marks(pending)
        self.approval_card.show(pending)

    @on(ConsolePane.InputAnswered)
    def answer_input(self, event: ConsolePane.InputAnswered) -> None:
        self.publish(InputAnswered(event.request_id, event.text))
        self.query_one(PromptInput).focus()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each key shows in the footer only when it does something now."""
        pending = self._pending
        editing = pending is not None and pending.editing
        box_open = bool(self.approval_card.box)
        if action == "run_code":
            return pending is not None and not editing
        if action == "run_edited":
            return editing
        if action == "edit_code":
            return pending is not None and not editing
        if action == "cancel_edit":
            return editing and not box_open
        if action == "dismiss_code":
            return pending is not None and not editing and not box_open
        if action == "focus_card":
            return pending is not None and not editing and isinstance(self.focused, PromptInput)
        if action == "stop":
            return self.busy and pending is None
        if action == "toggle_code":  # only while some block has lines to show or fold
            return bool(self.transcript.collapsible_blocks())
        if action == "scroll_transcript":
            if not self._reading_keys_apply():
                return False
            typing = isinstance(self.focused, PromptInput) and bool(self.focused.text)
            if len(parameters) > 1 and parameters[1] and typing:
                return False  # home/end with text in the prompt: the prompt's own line start/end
            if len(parameters) > 2 and parameters[2] and not typing:
                return False  # ctrl+end's footer hint stands in for End only while End is the prompt's
            if parameters and parameters[0] == "newest":
                return not self._was_following  # as of the last scroll, not a layout caught half-way
            return self._had_more_to_read  # PgUp/PgDn, Home: only once there is something to scroll to
        return True

    def action_focus_card(self) -> None:
        self.approval_card.focus()

    def action_stop(self) -> None:
        """Stop generation or the running code."""
        if self.busy:
            self._stop_asked = True  # also a reply whose first chunk is still on its way
            if self._reply is not None:
                self._reply.stop_rendering()  # nothing more is drawn once the user said stop
            self.query_one(StatusLine).state = "stopping"
            self.publish(StopRequested())

    def _reading_keys_apply(self) -> bool:
        """Transcript keys act from the prompt (or with nothing focused), never inside the editor or a box."""
        return self.focused is None or isinstance(self.focused, PromptInput)

    @property
    def _following_newest(self) -> bool:
        transcript = self.transcript
        return transcript.scroll_y >= transcript.max_scroll_y - 1

    async def action_scroll_transcript(self, where: str, yields_to_prompt_text: bool = False,
                                       while_typing: bool = False) -> None:
        """PgUp/PgDn page the conversation, Home/End (empty prompt) or ctrl+Home/End go to its start or newest.

        Older messages behind "show earlier" come into view as the reader pages up to them (a page at a time)
        or goes to the start (all of them). The two flags only tell bindings apart for `check_action`.
        """
        transcript = self.transcript
        if where == "page_up" and transcript.scroll_y <= 0 and transcript.has_earlier:
            await transcript.reveal_page()
        elif where == "page_up":
            transcript.scroll_page_up(animate=False)
        elif where == "page_down":
            transcript.scroll_page_down(animate=False)
            if transcript.scroll_target_y >= transcript.max_scroll_y:
                transcript.anchor()  # back at the bottom: follow new text again
        elif where == "top" and transcript.has_earlier:
            await transcript.reveal_all()
        elif where == "top":
            transcript.scroll_home(animate=False)
        else:
            transcript.anchor()  # scrolls to the end and follows new text
        # the footer follows through the scroll_y watcher, only when following changes (a footer refresh
        # recomposes its keys: far dearer than the scroll itself)

    def action_toggle_code(self) -> None:
        """Expand (or fold) the code block in view that has hidden lines; the lowest one on screen."""
        blocks = self.transcript.collapsible_blocks()
        if not blocks:
            self.app.notify("No code block has hidden lines.", timeout=3)
            return
        view = self.transcript.region
        visible = [block for block in blocks if block.region.overlaps(view)]
        block = (visible or blocks)[-1]
        block.toggle_expanded()
        if not visible:
            self.transcript.scroll_to_widget(block, animate=False)

    def _transcript_grew(self) -> None:
        """The footer offers PgUp/PgDn from the moment the conversation no longer fits its pane.

        Checked once the layout that follows is done: before it, the pane's own size may still be 0.
        """
        if not self._more_check_due:
            self._more_check_due = True
            self.call_after_refresh(self._check_more_to_read)

    def on_resize(self) -> None:
        self._transcript_grew()  # a smaller terminal (or pane) can make the same conversation scroll

    def _check_more_to_read(self) -> None:
        self._more_check_due = False
        more = self.transcript.max_scroll_y > 0 or self.transcript.has_earlier
        if more != self._had_more_to_read:
            self._had_more_to_read = more
            self.refresh_bindings()

    def _transcript_scrolled(self) -> None:
        """The footer's "End Newest" shows only while the view is away from the newest message.

        End works at once; the footer shows it once the keys pause. Rebuilt at once, the footer cost the
        screen three layouts (~50 ms) right after the first PgUp, and held the next one.
        """
        following = self._following_newest
        if following != self._was_following:
            self._was_following = following
            self.app.when_typing_pauses(self.refresh_bindings)  # type: ignore[attr-defined]

    def action_toggle_zoom(self) -> None:
        """Hide or show the editor and console so a long conversation gets the whole screen."""
        self.toggle_class("-zoomed")

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()
