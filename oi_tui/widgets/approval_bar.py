"""The approval bar: Run / Edit / Skip for code the model wants to run."""

from __future__ import annotations

from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Label

Choice = Literal["run", "edit", "skip"]


class ApprovalBar(Horizontal, can_focus=True):
    """Shown while code waits for the user's decision; focusable so r / e / s work without clicking."""

    BINDINGS = [
        Binding("r", "choose('run')", "Run", id="approval.run", tooltip="Run the code shown in the editor"),
        Binding("e", "choose('edit')", "Edit", id="approval.edit", tooltip="Edit the code before running it"),
        Binding("s", "choose('skip')", "Skip", id="approval.skip", tooltip="Tell the model you declined"),
    ]

    class ChoiceMade(Message):
        """The user picked Run, Edit or Skip."""

        def __init__(self, choice: Choice) -> None:
            super().__init__()
            self.choice = choice

    def compose(self) -> ComposeResult:
        yield Label("Run this code?", id="approval-question")
        yield Button("Run (r)", id="approval-run", variant="success", compact=True)
        yield Button("Edit (e)", id="approval-edit", variant="primary", compact=True)
        yield Button("Skip (s)", id="approval-skip", variant="error", compact=True)

    def ask(self, language: str) -> None:
        self.query_one("#approval-question", Label).update(f"Run this {language} code?")
        self.remove_class("-editing")

    def show_editing(self) -> None:
        self.add_class("-editing")
        self.query_one("#approval-question", Label).update("Editing: ctrl+r runs what you see")

    def action_choose(self, choice: Choice) -> None:
        self.post_message(self.ChoiceMade(choice))

    @on(Button.Pressed)
    def choose_by_click(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id:
            self.post_message(self.ChoiceMade(event.button.id.removeprefix("approval-")))  # type: ignore[arg-type]
