"""Messages the user sent while a turn was running: shown above the prompt, sent in order when it ends."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Label

from oi_core.sanitize import terminal_safe


class QueuedMessage(Horizontal):
    """One waiting message with its cancel button."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = text

    def compose(self) -> ComposeResult:
        first_line = terminal_safe(self.text).split("\n", 1)[0]
        more = " …" if "\n" in self.text else ""
        yield Label(Content.assemble(("queued ", "bold $accent"), first_line + more), classes="queued-text")
        cancel = Button("✕ cancel", classes="queued-cancel", compact=True)
        cancel.can_focus = False
        yield cancel


class QueuedMessages(Vertical):
    """The queue; never focusable, so typing is never diverted here (↑ in an empty prompt takes one back)."""

    class Cancelled(Message):
        """The user cancelled a queued message (it is not sent; ↑ in the prompt history still has it)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.query(QueuedMessage)]

    async def add(self, text: str) -> None:
        if not self.query("#queued-hint"):  # mounted with the first message: one widget less before the first frame
            await self.mount(Label("sent when the current turn ends · ↑ in an empty prompt takes the last one back "
                                   "to edit", id="queued-hint"))
        await self.mount(QueuedMessage(text))
        self.display = True

    async def pop_first(self) -> str | None:
        """Take the oldest message out of the queue (to send it)."""
        items = list(self.query(QueuedMessage))
        if not items:
            return None
        await items[0].remove()
        self.display = len(items) > 1
        return items[0].text

    async def pop_last(self) -> str | None:
        """Take the newest message back out of the queue (to edit it)."""
        items = list(self.query(QueuedMessage))
        if not items:
            return None
        await items[-1].remove()
        self.display = len(items) > 1
        return items[-1].text

    @on(Button.Pressed, ".queued-cancel")
    async def cancel(self, event: Button.Pressed) -> None:
        event.stop()
        item = event.button.parent
        if isinstance(item, QueuedMessage):
            await item.remove()
            self.display = bool(self.query(QueuedMessage))
            self.post_message(self.Cancelled(item.text))
