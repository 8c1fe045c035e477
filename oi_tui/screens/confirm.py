"""The one yes/no question in a modal (quit while something runs, run cut-off code, undo, …)."""

from __future__ import annotations

import time
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


#: Seconds after the question appears before the "y" key can answer it: a key typed ahead (the rest of a
#: sentence meant for the prompt) must never say yes to a question the user has not seen.
ARMING_DELAY = 0.3


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (yes) or False (no)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes_label} (y)", id="confirm-yes", variant="error")
                yield Button(f"{self.no_label} (n)", id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.armed_at = time.monotonic() + ARMING_DELAY
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        pressed_at = getattr(self.app, "last_key_time", None)  # when the key was read (OiApp records it)
        if answer and pressed_at is not None and pressed_at < getattr(self, "armed_at", float("inf")):
            return
        self.dismiss(answer)

    @on(Button.Pressed)
    def answer_by_click(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")
