"""Items of the transcript: user and assistant messages, notices, and the light form of old history."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream


class UserMessage(Static):
    """What the user sent, shown verbatim."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)
        self.text = text


class AssistantMessage(Widget):
    """A reply from the model; streamed with Markdown.get_stream, so each token is not a full re-render."""

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = text
        self._stream: MarkdownStream | None = None
        self._parts: list[str] = [text] if text else []

    def compose(self) -> ComposeResult:
        yield Markdown(self._initial)

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    @property
    def text(self) -> str:
        """The whole reply received so far (not only what has been rendered)."""
        return "".join(self._parts)

    async def write(self, fragment: str) -> None:
        """Append streamed text."""
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        self._parts.append(fragment)
        await self._stream.write(fragment)

    async def finish(self) -> None:
        """Render whatever is still queued and end the stream."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    @property
    def streaming(self) -> bool:
        return self._stream is not None


class NoticeMessage(Static):
    """Text from the core that is not part of the conversation (magic command output, notices)."""


class HistoryItem(Static):
    """An older message in a light, single-widget form (resumed conversations stay fast)."""

    def __init__(self, role: str, text: str, **kwargs) -> None:
        shown = text if len(text) <= 2000 else text[:2000] + " …"
        super().__init__(shown, markup=False, classes=f"-{role}", **kwargs)


class LightReply(Static):
    """A finished reply rendered by Rich as one widget (cheap to mount; used for older history)."""

    def __init__(self, text: str, **kwargs) -> None:
        from rich.markdown import Markdown as RichMarkdown

        super().__init__(RichMarkdown(text), **kwargs)
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
