"""Undo last run, Rewind to…, and the run's changes: the app's actions, keys and dialogs for checkpoints.

`OiApp` inherits `CheckpointActions`, so the palette (which offers every `action_…` the app has), the keys
below and the menu of a code block's change line all run the same code. The undo and rewind themselves
run in a worker that awaits the core (git works in a thread there); the outcome reaches the screen as the
core's `FilesRestored` event, and anything the user must know goes out as typed messages or bus events.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.command import SimpleCommand
from textual.markup import escape
from textual.message import Message

from oi_core.checkpoints import LIMITS, record_of, summary_line
from oi_core.conversation_text import one_line
from oi_core.errors import OiError
from oi_core.events import ErrorRaised
from oi_core.sanitize import terminal_safe

from .widgets.run_changes import RunChanges

CHECKPOINT_ACTIONS = ("show_run_changes", "undo_last_run", "rewind")


class CheckpointActions(App):
    """Mixed into OiApp: the checkpoint keys, palette actions and dialogs."""

    BINDINGS = [
        Binding("f4", "show_run_changes", "Changes", id="show_run_changes",
                tooltip="What the last run changed on disk, file by file"),
        Binding("f8", "undo_last_run", "Undo run", id="undo_last_run",
                tooltip="Put back the files the last run created, changed or deleted"),
        Binding("f9", "rewind", "Rewind", id="rewind",
                tooltip="Go back to an earlier message: its files and the conversation from there"),
    ]

    class RewindFinished(Message):
        """A rewind ended; `text` is the user message it went back to (put back in the prompt), if any."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    # ------------------------------------------------------------ state

    def _checkpoint_state(self) -> Any:
        """recorded_runs() / last_undoable(), from the client's copy of the conversation (works on a remote core)."""
        return self.client  # type: ignore[attr-defined]

    def _on_chat(self) -> bool:
        """The chat screen is in front (the command palette may be open over it)."""
        from textual.command import CommandPalette

        from .screens.chat import ChatScreen

        for screen in reversed(self.screen_stack):
            if not isinstance(screen, CommandPalette):
                return isinstance(screen, ChatScreen)
        return False

    def _idle(self) -> bool:
        return not bool(getattr(self, "busy", False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHECKPOINT_ACTIONS:
            if not self._on_chat():
                return False
            messages = self.client.state.messages  # type: ignore[attr-defined]
            if action == "rewind":
                return bool(messages) and self._idle()
            if action == "show_run_changes":
                return next(self._checkpoint_state().runs_newest_first(), None) is not None
            return self._checkpoint_state().last_undoable() is not None and self._idle()
        return super().check_action(action, parameters)

    def _say(self, kind: str, message: str) -> None:
        self.client.bus.publish(ErrorRaised(kind, message))  # type: ignore[attr-defined]

    # ------------------------------------------------------------ the run's changes

    def action_show_run_changes(self, index: int | None = None) -> None:
        """Show what the last run (or the run at message `index`) changed on disk."""
        runs = self._checkpoint_state().recorded_runs()
        if index is not None:
            runs = [(i, r) for i, r in runs if i == index]
        if not runs:
            self.notify("No run has recorded file changes in this conversation yet.", title="Changes")
            return
        from .screens.diff import DiffScreen

        run_index, record = runs[-1]
        last = self._checkpoint_state().last_undoable()
        undoable = last is not None and last[0] == run_index and self._idle()

        def closed(answer: str | None) -> None:
            if answer == "undo":
                self.action_undo_last_run()

        self.push_screen(DiffScreen(self.client, run_index, record, undoable=undoable), closed)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ undo

    def action_undo_last_run(self) -> None:
        """Ask (stating what is put back and what is not covered), then undo the last run's file changes."""
        if not self._idle():
            self.notify("Stop the current turn first: files cannot be put back while code may run.",
                        title="Undo", severity="warning")
            return
        last = self._checkpoint_state().last_undoable()
        if last is None:
            self.notify("No run to undo.", title="Undo")
            return
        index, record = last
        if not record.get("before"):
            self.notify(f"The last run (message {index}) ran without a checkpoint ({record.get('error')}), so its "
                        "file changes cannot be undone.", title="Undo", severity="warning", timeout=10)
            return
        from .screens.confirm import ConfirmScreen

        def decided(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._undo(), group="checkpoints", exclusive=True, exit_on_error=False)

        self.push_screen(ConfirmScreen(undo_question(self.client.state.messages, index, record),  # type: ignore[attr-defined]
                                       yes="Undo", no="Keep"), decided)

    async def _undo(self) -> None:
        try:
            result = await self.client.undo()  # type: ignore[attr-defined]
        except OiError as exc:
            self._say(exc.kind, exc.message)
            return
        if not result.runs:
            self._say("checkpoint", result.describe())

    # ------------------------------------------------------------ rewind

    def action_rewind(self) -> None:
        """Pick the message to go back to (a user message or a code block), then confirm."""
        if not self._idle():
            self.notify("Stop the current turn first.", title="Rewind", severity="warning")
            return
        messages = self.client.state.messages  # type: ignore[attr-defined]
        commands = []
        for index, message in enumerate(messages):
            role, kind = message.get("role"), message.get("type")
            if role == "user" and kind == "message":
                title = f"{index:>3}  you: {one_line(str(message.get('content') or ''), 70)}"
                help_text = "Go back to before this message; it is put back in the prompt"
            elif role == "assistant" and kind == "code":
                record = record_of(message)
                title = f"{index:>3}  {message.get('format') or 'code'} block: " + (
                    summary_line(record) if record else "no recorded run")
                help_text = "Go back to just before this code ran"
            else:
                continue
            commands.append(SimpleCommand(title, lambda index=index: self.confirm_rewind(index), help_text))
        if not commands:
            self.notify("Nothing to rewind to yet.", title="Rewind")
            return
        self.search_commands(list(reversed(commands)), placeholder="Rewind to before…")

    def confirm_rewind(self, index: int) -> None:
        """Say what rewinding to message `index` does (and does not), then do it; Python replay is asked apart."""
        from .screens.confirm import ConfirmScreen

        messages = self.client.state.messages  # type: ignore[attr-defined]

        def decided(yes: bool | None) -> None:
            if not yes:
                return
            from oi_core.checkpoint_replay import approved_python_blocks

            blocks = approved_python_blocks(messages[:index])
            if not blocks:
                self._start_rewind(index, False)
                return
            question = (f"Also rebuild the Python kernel? The {len(blocks)} approved Python block(s) before this point "
                        "run again in a fresh kernel, stopping at the first error; files they write are put back.")
            self.push_screen(ConfirmScreen(question, yes="Rebuild", no="Skip"),
                             lambda replay: self._start_rewind(index, bool(replay)))

        self.push_screen(ConfirmScreen(rewind_question(messages, index, self._checkpoint_state()),
                                       yes="Rewind", no="Stay"), decided)

    def _start_rewind(self, index: int, replay: bool) -> None:
        self.run_worker(self._rewind(index, replay), group="checkpoints", exclusive=True, exit_on_error=False)

    async def _rewind(self, index: int, replay: bool) -> None:
        messages = list(self.client.state.messages)  # type: ignore[attr-defined]
        target = messages[index] if index < len(messages) else {}
        try:
            await self.client.rewind(index, replay_kernel=replay)  # type: ignore[attr-defined]
        except OiError as exc:
            self._say(exc.kind, exc.message)
            return
        text = str(target.get("content") or "") if target.get("role") == "user" and target.get("type") == "message" else ""
        self.post_message(self.RewindFinished(text))

    @on(RewindFinished)
    def refill_prompt(self, event: RewindFinished) -> None:
        """Rewinding to one of your messages puts it back in the prompt, to edit and send again."""
        if not event.text:
            return
        from .widgets.prompt_input import PromptInput

        chat = getattr(self, "chat_screen", None)
        if chat is None:
            return
        prompt = chat.query_one(PromptInput)
        if not prompt.text.strip():
            prompt.load_text(event.text)
        prompt.focus()

    # ------------------------------------------------------------ a code block's menu

    @on(RunChanges.Clicked)
    def open_run_menu(self, event: RunChanges.Clicked) -> None:
        """The menu of one run: its changes, undo (when it is the last run) and rewind to before it."""
        index = event.index
        commands = [SimpleCommand("Show what this run changed", lambda: self.action_show_run_changes(index),
                                  "Files added, modified and deleted, with their diffs")]
        last = self._checkpoint_state().last_undoable()
        if last is not None and last[0] == index and self._idle():
            commands.append(SimpleCommand("Undo this run", self.action_undo_last_run,
                                          "Put back the files this run created, changed or deleted"))
        if self._idle():
            commands.append(SimpleCommand("Rewind to before this run", lambda: self.confirm_rewind(index),
                                          "Files and conversation go back to just before this code ran"))
        self.search_commands(commands, placeholder=f"Run at message {index}…")


def _dialog_text(lines: list[str]) -> str:
    """Paths and messages are foreign text: made safe for the terminal and never read as markup by the dialog."""
    return escape("\n".join(terminal_safe(one_line(line, 400)) for line in lines))


def undo_question(messages: list[dict[str, Any]], index: int, record: dict[str, Any]) -> str:
    """The undo dialog's text: what goes back, and what undo cannot cover."""
    language = messages[index].get("format") or "code" if index < len(messages) else "code"
    files = [f.get("path", "") for f in record.get("files") or []]
    shown = ", ".join(files[:5]) + (" …" if len(files) > 5 or record.get("more_files") else "")
    lines = [f"Undo the last run ({language} at message {index}: {summary_line(record)})?"]
    if files:
        lines.append(f"Puts back: {shown}.")
    blocked = [f.get("path", "") for f in record.get("files") or [] if not f.get("restorable", True)]
    if blocked:
        lines.append("Cannot be restored: " + ", ".join(blocked[:5]) + ".")
    if record.get("outside"):
        lines.append("It also touched, outside the working directory (not undone): "
                     + ", ".join(record["outside"][:5]) + ".")
    lines.append(LIMITS.format(root=record.get("root") or "the working directory"))
    return _dialog_text(lines)


def rewind_question(messages: list[dict[str, Any]], index: int, checkpoints: Any) -> str:
    """The rewind dialog's text: what goes back (files and conversation) and what does not."""
    target = messages[index] if index < len(messages) else {}
    if target.get("role") == "user":
        what = f"before your message “{one_line(str(target.get('content') or ''), 60)}”"
    else:
        what = f"before the {target.get('format') or 'code'} block at message {index}"
    runs = [(i, r) for i, r in checkpoints.recorded_runs(messages) if i >= index and not r.get("undone")]
    lines = [f"Rewind to {what}?",
             f"Files changed by {len(runs)} later run(s) are put back; the conversation continues from there "
             "and the current one stays in the conversation list."]
    missing = [i for i, r in runs if not r.get("before")]
    if missing:
        lines.append(f"{len(missing)} of those runs had no checkpoint: their changes stay.")
    outside = sorted({p for _, r in runs for p in r.get("outside") or []})
    if outside:
        lines.append("Touched outside the working directory (not undone): " + ", ".join(outside[:5]) + ".")
    root = next((r.get("root") for _, r in runs if r.get("root")), None)
    lines.append(LIMITS.format(root=root or "the working directory"))
    return _dialog_text(lines)


__all__ = ["CheckpointActions", "rewind_question", "undo_question"]
