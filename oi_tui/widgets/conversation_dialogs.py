"""Small modals for the conversation navigator: ask for a line of text, or confirm a deletion."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

DIALOG_CSS = """
ConversationPromptDialog, ConversationConfirmDialog {
    align: center middle;
}
ConversationPromptDialog > Vertical, ConversationConfirmDialog > Vertical {
    width: 70;
    max-width: 90%;
    height: auto;
    padding: 1 2;
    border: thick $primary;
    background: $surface;
}
ConversationConfirmDialog > Vertical {
    border: thick $error;
}
ConversationPromptDialog Label, ConversationConfirmDialog Label {
    width: 100%;
    margin-bottom: 1;
}
ConversationPromptDialog .dialog-buttons, ConversationConfirmDialog .dialog-buttons {
    height: auto;
    margin-top: 1;
    align-horizontal: right;
}
ConversationPromptDialog Button, ConversationConfirmDialog Button {
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
            yield Label(self.question, id="dialog-question")
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


class ConversationConfirmDialog(ModalScreen[bool]):
    """A yes/no question; "No" has the focus so a stray Enter never deletes anything."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="conversation_dialog.yes"),
        Binding("n,escape", "answer(False)", "No", id="conversation_dialog.no"),
    ]

    def __init__(self, question: str, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel [n]", id="dialog-no", variant="primary")
                yield Button(f"{self.yes_label} [y]", id="dialog-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#dialog-no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "dialog-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
