"""The input box: multi-line, Enter sends, ctrl+j / shift+enter add a newline, up/down walk the history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events
from textual.message import Message
from textual.widgets import TextArea

PLACEHOLDER = (
    "Ask for something to be done on this computer, e.g. "
    "“Find the 10 largest files in ~/Downloads and chart their sizes”  (Enter sends · ctrl+j new line)"
)


class PromptInput(TextArea):
    """Where the user writes to the model."""

    class MessageSubmitted(Message):
        """The user pressed Enter on a non-empty prompt."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(
            soft_wrap=True, show_line_numbers=False, tab_behavior="focus", placeholder=PLACEHOLDER, **kwargs
        )
        self.sent_history: list[str] = []
        self._history_index: int | None = None
        self._draft = ""
        self.take_back_queued: Callable[[], Awaitable[str | None]] | None = None
        """Set by the chat screen: ↑ in an empty prompt takes the newest queued message back to edit."""

    def on_text_area_changed(self) -> None:
        """Grow with the text, from two lines up to eight."""
        self.styles.height = min(8, max(2, self.wrapped_document.height)) + 2

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            self.submit()
            return
        if event.key in ("shift+enter", "ctrl+j", "alt+enter"):
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        if event.key == "up" and not self.text and self.take_back_queued is not None:
            queued = await self.take_back_queued()
            if queued is not None:
                event.prevent_default()
                event.stop()
                self.load_text(queued)
                self.move_cursor(self.document.end)
                return
        if event.key == "up" and self.cursor_location[0] == 0 and self.sent_history:
            event.prevent_default()
            event.stop()
            self.recall(-1)
            return
        if event.key == "down" and self._history_index is not None and (
            self.cursor_location[0] == self.document.line_count - 1
        ):
            event.prevent_default()
            event.stop()
            self.recall(+1)
            return
        await super()._on_key(event)

    def remember(self, text: str) -> None:
        """Add to the ↑ history (what was sent, or a queued message the user cancelled)."""
        if not self.sent_history or self.sent_history[-1] != text:
            self.sent_history.append(text)

    def submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        self.remember(text)
        self._history_index = None
        self._draft = ""
        self.clear()
        self.post_message(self.MessageSubmitted(text))

    def recall(self, step: int) -> None:
        """Move through earlier prompts; walking past the newest restores the draft."""
        if self._history_index is None:
            if step > 0:
                return
            self._draft = self.text
            index = len(self.sent_history) - 1
        else:
            index = self._history_index + step
        if index < 0:
            index = 0
        if index >= len(self.sent_history):
            self._history_index = None
            self.load_text(self._draft)
        else:
            self._history_index = index
            self.load_text(self.sent_history[index])
        self.move_cursor(self.document.end)
