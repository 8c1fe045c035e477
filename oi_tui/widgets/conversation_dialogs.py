"""A small modal for the conversation navigator: ask for a line of text (a new title, an export path).

Deleting asks through the app's one confirm dialog (oi_tui.screens.confirm).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from oi_core.sanitize import terminal_safe

DIALOG_CSS = """
ConversationPromptDialog {
    align: center middle;
}
ConversationPromptDialog > Vertical {
    width: 70;
    max-width: 90%;
    height: auto;
    padding: 1 2;
    border: thick $primary;
    background: $surface;
}
ConversationPromptDialog Label {
    width: 100%;
    margin-bottom: 1;
}
ConversationPromptDialog .dialog-buttons {
    height: auto;
    margin-top: 1;
    align-horizontal: right;
}
ConversationPromptDialog Button {
    margin-left: 2;
}
"""


class ConversationPromptDialog(ModalScreen[str | None]):
    """Ask for one line (a new title, an export path). Dismisses with the text, or None when cancelled."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="conversation_dialog.cancel")]

    def __init__(self, question: str, value: str = "", ok: str = "OK") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.ok_label = ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(terminal_safe(self.question), id="dialog-question", markup=False)
            yield Input(self.value, id="dialog-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="dialog-cancel")
                yield Button(self.ok_label, id="dialog-ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#dialog-ok")
    def submit(self) -> None:
        text = self.query_one(Input).value.strip()
        self.dismiss(text or None)

    @on(Button.Pressed, "#dialog-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
