"""The chat screen: transcript, code editor, console, approval bar and input box, driven by bus events.

Everything here happens in `@on` handlers on the app's loop. The bridge worker only posts
`CoreEventsArrived`; the screen applies each event to its widgets, and publishes the user's
decisions back on the bus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from oi_core.events import (
    ApprovalRequested,
    ChunkEmitted,
    CodeApproved,
    CodeSkipped,
    CostUpdated,
    ErrorRaised,
    Event,
    InfoShown,
    InputAnswered,
    InputRequested,
    InputWithdrawn,
    MessagesReplaced,
    SettingsApplied,
    StatusChanged,
    StopRequested,
    TurnFinished,
    UserMessageSent,
)

from oi_core.sanitize import terminal_safe

from ..bridge import BusBridge, CoreEventsArrived
from ..widgets.approval_bar import ApprovalBar
from ..widgets.chat_messages import AssistantMessage
from ..widgets.code_block import CodeBlock
from ..widgets.code_editor import CodeEditor
from ..widgets.console import ConsolePane
from ..widgets.prompt_input import PromptInput
from ..widgets.status_line import StatusLine
from ..widgets.transcript import Transcript

#: Error kinds that end a turn without its reply: marked inline in the transcript, not only in a toast.
TURN_FAILURES = ("llm", "budget", "internal")

#: How often streamed code and console output are written to their widgets.
FLUSH_INTERVAL = 1 / 30

ERROR_TITLES = {
    "llm": "Model error", "budget": "Budget reached", "kernel": "Code runner error",
    "settings": "Settings", "conversation": "Conversation", "input": "Input", "busy": "Busy",
}


class ChatScreen(Screen):
    """The main screen of oi-tui."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop", priority=True, tooltip="Stop generation or the running code"),
        Binding("ctrl+c", "stop", "Stop", id="stop_alt", priority=True, show=False),
        Binding("ctrl+r", "run_code", "Run code", id="run_code", priority=True,
                tooltip="Run exactly the code in the editor"),
        Binding("ctrl+l", "focus_prompt", "Prompt", id="focus_prompt", show=False),
        Binding("ctrl+t", "app.toggle_auto_run", "Auto-run", id="toggle_auto_run",
                tooltip="Run code without asking"),
        Binding("f2", "toggle_zoom", "Zoom", id="toggle_zoom",
                tooltip="Give the whole width to the conversation (editor and console hide)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status = "idle"
        self._reply: AssistantMessage | None = None
        self._block: CodeBlock | None = None
        self._pending_code: list[str] = []
        self._pending_output: list[str] = []
        self._approval_id: str | None = None
        self._editing = False
        self._flush_timer: Timer | None = None
        self._handlers: dict[type[Event], Callable[[Any], Awaitable[None]]] = {
            ChunkEmitted: self._apply_chunk,
            ApprovalRequested: self._show_approval,
            InputRequested: self._ask_for_input,
            StatusChanged: self._show_status,
            ErrorRaised: self._notify_error,
            InputWithdrawn: self._offer_withdrawn_input,
            CostUpdated: self._show_cost,
            InfoShown: self._show_info,
            TurnFinished: self._finish_turn,
            MessagesReplaced: self._replace_messages,
            SettingsApplied: self._show_settings,
        }

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield Transcript(id="transcript")
            with Vertical(id="workbench"):
                yield CodeEditor(id="editor")
                yield ConsolePane(id="console")
        yield ApprovalBar(id="approval", classes="-hidden")
        yield PromptInput(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        interpreter = self.app.interpreter  # type: ignore[attr-defined]
        bridge = BusBridge(interpreter.bus, self)
        self.run_worker(bridge.run(), name="bus-bridge", group="bus-bridge", exit_on_error=False)
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self.flush_buffers, pause=True)
        self._show_settings_now()
        self.query_one(PromptInput).focus()

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
    def approval_bar(self) -> ApprovalBar:
        return self.query_one(ApprovalBar)

    @property
    def busy(self) -> bool:
        return self.status != "idle"

    def publish(self, event: Event) -> None:
        self.app.interpreter.bus.publish(event)  # type: ignore[attr-defined]

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

    async def _finish_reply(self) -> None:
        if self._reply is not None:
            reply, self._reply = self._reply, None
            await reply.finish()

    # ------------------------------------------------------------ bus events

    @on(CoreEventsArrived)
    async def apply_core_events(self, message: CoreEventsArrived) -> None:
        for event in message.events:
            handler = self._handlers.get(type(event))
            if handler is not None:
                await handler(event)

    async def _apply_chunk(self, event: ChunkEmitted) -> None:
        chunk = event.chunk
        role, kind, fmt = chunk.get("role"), chunk.get("type"), chunk.get("format")
        content = chunk.get("content")
        if role == "assistant" and kind == "message":
            if chunk.get("end"):
                await self._finish_reply()
            elif chunk.get("start") or self._reply is None:
                self._reply = await self.transcript.add_assistant()
            if content and self._reply is not None:
                await self._reply.write(content)
        elif role == "assistant" and kind == "code":
            if chunk.get("start") or self._block is None:
                await self._finish_reply()
                self.flush_buffers()
                self._block = await self.transcript.add_code(str(fmt or "text"))
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
                    self._block.set_state("stopped" if self.status == "stopping" else "done")
            elif fmt == "active_line":
                self.flush_buffers()
                self.editor.active_line = int(content) - 1 if isinstance(content, int) and content > 0 else None
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
        self.flush_buffers()
        await self._finish_reply()
        self._approval_id = event.request_id
        self.editor.show_code(event.language, event.code)
        if self._block is None:
            self._block = await self.transcript.add_code(event.language, event.code)
        else:
            self._block.set_code(event.code)
        self._block.set_state("pending")
        bar = self.approval_bar
        bar.ask(event.language)
        bar.remove_class("-hidden")
        bar.focus()
        self.refresh_bindings()

    async def _ask_for_input(self, event: InputRequested) -> None:
        self.remove_class("-zoomed")  # the answer is typed in the console pane
        self.flush_buffers()
        self.console.ask(event.request_id, event.prompt, event.password)

    async def _show_status(self, event: StatusChanged) -> None:
        self.status = event.status
        self.query_one(StatusLine).state = event.status
        self.refresh_bindings()

    async def _notify_error(self, event: ErrorRaised) -> None:
        title = ERROR_TITLES.get(event.kind, "Error")
        severity = "warning" if event.kind == "busy" else "error"
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
        self.refresh_bindings()
        if event.reason == "stopped":
            self.app.notify("Stopped.", timeout=3)
        if self.focused is None or not isinstance(self.focused, PromptInput):
            self.query_one(PromptInput).focus()

    async def _replace_messages(self, event: MessagesReplaced) -> None:
        self.flush_buffers()
        await self._finish_reply()
        self._close_approval()
        self._block = None
        interpreter = self.app.interpreter  # type: ignore[attr-defined]
        self.editor.show_code("", "")
        self.console.reset()
        await self.transcript.show_messages(list(interpreter.messages))
        self.query_one(StatusLine).cost = interpreter.total_cost

    async def _show_settings(self, event: SettingsApplied) -> None:
        self._show_settings_now()

    def _show_settings_now(self) -> None:
        interpreter = self.app.interpreter  # type: ignore[attr-defined]
        status = self.query_one(StatusLine)
        status.model = str(interpreter.llm.model or "")
        status.profile = str(interpreter.profile or "")
        status.auto_run = bool(interpreter.auto_run)
        status.cost = float(interpreter.total_cost or 0.0)

    # ------------------------------------------------------------ the user's side

    @on(PromptInput.MessageSubmitted)
    async def send_message(self, event: PromptInput.MessageSubmitted) -> None:
        if not self.busy and not event.text.startswith("%"):
            await self.transcript.add_user(event.text)
            self.transcript.anchor()
        self.publish(UserMessageSent(event.text))

    @on(ApprovalBar.ChoiceMade)
    def apply_choice(self, event: ApprovalBar.ChoiceMade) -> None:
        event.stop()
        if event.choice == "run":
            self.action_run_code()
        elif event.choice == "edit":
            self.start_editing()
        else:
            self.skip_code()

    def start_editing(self) -> None:
        if self._approval_id is None:
            return
        self.remove_class("-zoomed")  # the editor must be on screen to edit in it
        self._editing = True
        self.editor.begin_editing()
        self.approval_bar.show_editing()
        if self._block is not None:
            self._block.set_state("editing")

    def skip_code(self) -> None:
        if self._approval_id is None:
            return
        request_id = self._approval_id
        if self._block is not None:
            self._block.set_state("skipped")
        self._close_approval()
        self.publish(CodeSkipped(request_id))

    def _close_approval(self) -> None:
        self._approval_id = None
        self._editing = False
        self.editor.end_editing()
        bar = self.approval_bar
        bar.add_class("-hidden")
        if bar.has_focus:
            self.query_one(PromptInput).focus()
        self.refresh_bindings()

    @on(ConsolePane.InputAnswered)
    def answer_input(self, event: ConsolePane.InputAnswered) -> None:
        self.publish(InputAnswered(event.request_id, event.text))
        self.query_one(PromptInput).focus()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.busy or self._editing
        if action == "run_code":
            return self._approval_id is not None
        return True

    def action_stop(self) -> None:
        """Esc leaves the editor first; otherwise stop generation or the running code."""
        if self._editing and self.focused is self.editor:
            self.editor.end_editing()
            self.approval_bar.focus()
            self._editing = False
            self.approval_bar.ask(self.editor.code_language)
            if self._block is not None:
                self._block.set_state("pending")
            self.refresh_bindings()
            return
        if self.busy:
            self.query_one(StatusLine).state = "stopping"
            self.publish(StopRequested())

    def action_run_code(self) -> None:
        """Approve the pending code: what runs is exactly the text in the editor."""
        if self._approval_id is None:
            return
        request_id, code = self._approval_id, self.editor.text
        if self._block is not None:
            if code != self._block.code:
                self._block.set_code(code)
        self._close_approval()
        self.publish(CodeApproved(request_id, code))

    def action_toggle_zoom(self) -> None:
        """Hide or show the editor and console so a long conversation gets the whole screen."""
        self.toggle_class("-zoomed")

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()
