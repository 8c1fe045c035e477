"""Items of the transcript: user and assistant messages, notices, and the light form of old history.

Every text here comes from outside (the model, a saved file, a server) and passes the one sanitiser,
oi_core.sanitize.terminal_safe, before it is shown: no escape sequence reaches the terminal.
"""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from oi_core.sanitize import terminal_safe

#: An escape sequence that may still be going on at the end of a streamed fragment (held for the next one).
_UNFINISHED_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*|[ -/]*)?$")
#: Longer than this, an unterminated sequence is not waited for any more.
_HOLD_LIMIT = 4096


class UserMessage(Static):
    """What the user sent, shown verbatim (control characters made visible)."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(terminal_safe(text), markup=False, **kwargs)
        self.text = text


class AssistantMessage(Widget):
    """A reply from the model; streamed with Markdown.get_stream, so each token is not a full re-render."""

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = terminal_safe(text)
        self._stream: MarkdownStream | None = None
        self._parts: list[str] = [self._initial] if text else []
        self._held = ""

    def compose(self) -> ComposeResult:
        yield Markdown(self._initial)

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    @property
    def text(self) -> str:
        """The whole reply received so far as shown (sanitised; not only what has been rendered)."""
        return "".join(self._parts)

    async def write(self, fragment: str) -> None:
        """Append streamed text; an escape sequence cut between two fragments is held until it is whole."""
        text = self._held + fragment
        unfinished = _UNFINISHED_ESCAPE.search(text)
        if unfinished is not None and len(text) - unfinished.start() <= _HOLD_LIMIT:
            text, self._held = text[: unfinished.start()], text[unfinished.start():]
        else:
            self._held = ""
        if text:
            await self._write_shown(terminal_safe(text))

    async def _write_shown(self, shown: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        self._parts.append(shown)
        await self._stream.write(shown)

    async def finish(self) -> None:
        """Render whatever is still queued and end the stream."""
        if self._held:
            held, self._held = self._held, ""
            await self._write_shown(terminal_safe(held))
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    @property
    def streaming(self) -> bool:
        return self._stream is not None


class NoticeMessage(Static):
    """Text from the core that is not part of the conversation (magic command output, notices)."""

    def __init__(self, text: str, **kwargs) -> None:
        kwargs["markup"] = False
        super().__init__(terminal_safe(text), **kwargs)


class HistoryItem(Static):
    """An older message in a light, single-widget form (resumed conversations stay fast)."""

    def __init__(self, role: str, text: str, **kwargs) -> None:
        shown = text if len(text) <= 2000 else text[:2000] + " …"
        super().__init__(terminal_safe(shown), markup=False, classes=f"-{role}", **kwargs)


class LightReply(Static):
    """A finished reply rendered by Rich as one widget (cheap to mount; used for older history)."""

    def __init__(self, text: str, **kwargs) -> None:
        from rich.markdown import Markdown as RichMarkdown

        super().__init__(RichMarkdown(terminal_safe(text)), **kwargs)
        self.text = text


class EarlierMessages(Static, can_focus=True):
    """A placeholder for older messages; Enter or a click shows them."""

    BINDINGS = [Binding("enter", "reveal", "Show earlier", id="transcript.show_earlier")]

    class RevealRequested(Message):
        """The user asked to see the older messages."""

    def __init__(self, count: int, **kwargs) -> None:
        super().__init__(f"▲ Show {count} earlier messages", **kwargs)
        self.count = count

    def on_click(self) -> None:
        self.post_message(self.RevealRequested())

    def action_reveal(self) -> None:
        self.post_message(self.RevealRequested())
