"""The conversation pane: an anchored VerticalScroll of messages and code blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from .sized_by_layout import SizedByLayout

if TYPE_CHECKING:  # the message widgets load after the first frame (oi_tui.preload), or with the first message
    from .chat_messages import AssistantMessage, NoticeMessage, UserMessage
    from .code_block import CodeBlock

#: Messages of a resumed conversation mounted in full; older ones wait behind "show earlier".
RECENT_MESSAGES = 24
#: Of those, replies this close to the end get full Markdown widgets; the rest one light widget each.
FULL_MARKDOWN_REPLIES = 5
#: Older messages shown per step, in one widget, when all are revealed (each step is one short turn of the UI loop).
REVEAL_BATCH = 60
#: Items (messages, code blocks, notes) a live conversation keeps mounted; once FOLD_STEP more arrive, the
#: oldest fold into "show earlier" as plain text. Every mounted widget keeps its rendered lines and takes
#: part in every layout, so a session of thousands of messages would otherwise grow without bound.
LIVE_ITEMS = 60
FOLD_STEP = 20


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("content", ""))
    return "" if content is None else str(content)


def _has_light_form(message: dict[str, Any]) -> bool:
    """Messages, code and output come back as text behind "show earlier"; images and the rest do not."""
    return message.get("type") in ("message", "code") or message.get("format") == "output"


#: Added to a failure marker when the failed message was taken back out of the conversation.
WITHDRAWN_NOTE = "Your message was not kept (the model never saw it); it is back in the prompt: press Enter to send it again."


def _summaries(widget: Widget) -> list[tuple[str, str]]:
    """What a transcript item said, as (role, text) for its light form behind "show earlier"."""
    from .chat_messages import AssistantMessage, LightReply, NoticeMessage, UserMessage
    from .code_block import CodeBlock
    from .history_page import HistoryPage

    if isinstance(widget, UserMessage):
        return [("user", widget.text)]
    if isinstance(widget, (AssistantMessage, LightReply)):
        return [("assistant", widget.text)]
    if isinstance(widget, CodeBlock):
        return [("assistant", widget.code)] + ([("computer", widget.output)] if widget.output else [])
    if isinstance(widget, HistoryPage):
        return list(widget.messages)
    if isinstance(widget, (NoticeMessage, FailureMarker)):
        return [("computer", widget.text)]
    return []  # run-change lines and progress notes belong to the items they follow


class FailureMarker(SizedByLayout, Static):
    """An inline, lasting record that a turn failed (a toast alone fades before it is read)."""

    DEFAULT_CSS = """
    FailureMarker {
        color: $text-error;
        border-left: thick $error;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)
        self.text = text

    def add_note(self, note: str) -> None:
        self.text = f"{self.text}\n{note}"
        self.update(self.text)


class EarlierMessages(Static, can_focus=True):
    """A placeholder for older messages; Enter or a click shows them."""

    BINDINGS = [Binding("enter", "reveal", "Show earlier", id="transcript.show_earlier")]

    class RevealRequested(Message):
        """The user asked to see the older messages."""

    def __init__(self, count: int, **kwargs) -> None:
        super().__init__(f"▲ Show {count} earlier messages", **kwargs)
        self.count = count

    def set_count(self, count: int) -> None:
        self.count = count
        self.update(f"▲ Show {count} earlier messages")

    def on_click(self) -> None:
        self.post_message(self.RevealRequested())

    def action_reveal(self) -> None:
        self.post_message(self.RevealRequested())


class Transcript(SizedByLayout, VerticalScroll, can_focus=False):
    """Stays pinned to the newest item until the user scrolls up."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._earlier: list[dict[str, Any]] = []
        self._folded: list[tuple[str, str]] = []  # (role, text) of live items folded away, oldest first

    def on_mount(self) -> None:
        self.anchor()

    async def add(self, widget: Widget, *, before: Widget | None = None) -> Widget:
        if before is not None:
            await self.mount(widget, before=before)
        else:
            await self.mount(widget)
        await self._fold_old_items()
        return widget

    async def _fold_old_items(self) -> None:
        """Keep LIVE_ITEMS items mounted: older ones become plain text behind "show earlier" (see LIVE_ITEMS)."""
        items = [child for child in self.children if not isinstance(child, EarlierMessages)]
        if len(items) <= LIVE_ITEMS + FOLD_STEP or self.scroll_y < self.max_scroll_y - 1:
            return  # few enough, or the user is reading back: nothing above them may move
        fold = items[: len(items) - LIVE_ITEMS]
        for widget in fold:
            self._folded.extend(_summaries(widget))
        hidden = sum(1 for message in self._earlier if _has_light_form(message)) + len(self._folded)
        placeholder = self.query(EarlierMessages)
        with self.app.batch_update():
            if placeholder:
                placeholder.first().set_count(hidden)
            else:
                await self.mount(EarlierMessages(hidden), before=0)
            await self.remove_children(fold)

    async def add_user(self, text: str) -> UserMessage:
        from .chat_messages import UserMessage

        return await self.add(UserMessage(text))  # type: ignore[return-value]

    async def add_assistant(self) -> AssistantMessage:
        from .chat_messages import AssistantMessage

        return await self.add(AssistantMessage())  # type: ignore[return-value]

    async def add_code(self, language: str, code: str = "", guessed: bool = False) -> CodeBlock:
        """A code block; `guessed`: the model's fence named no language and `language` is our guess."""
        from .code_block import CodeBlock

        block = CodeBlock(language, code)
        block.language_guessed = guessed
        return await self.add(block)  # type: ignore[return-value]

    async def add_notice(self, text: str) -> NoticeMessage:
        from .chat_messages import NoticeMessage

        return await self.add(NoticeMessage(text, markup=False))  # type: ignore[return-value]

    async def add_failure(self, text: str) -> FailureMarker:
        """Mark inline that the turn failed; the text is shown as text, never as markup."""
        return await self.add(FailureMarker("✗ " + text))  # type: ignore[return-value]

    def code_blocks(self) -> list[CodeBlock]:
        """The code blocks shown, oldest first (an empty transcript imports nothing to say so)."""
        if not self.children:
            return []
        from .code_block import CodeBlock

        return list(self.query_children(CodeBlock))

    def collapsible_blocks(self) -> list[CodeBlock]:
        """The code blocks with lines to show or fold."""
        return [block for block in self.code_blocks() if block.collapsible]

    def mark_withdrawn(self, text: str) -> None:
        """The failed turn's message was taken back: mark its bubble and say so under the failure."""
        from .chat_messages import UserMessage

        for message in reversed(list(self.query(UserMessage))):
            if message.text == text:
                message.add_class("-withdrawn")
                break
        markers = list(self.query(FailureMarker))
        if markers:
            markers[-1].add_note(WITHDRAWN_NOTE)

    # ------------------------------------------------------------ resumed conversations

    async def show_messages(self, messages: list[dict[str, Any]]) -> None:
        """Replace everything with `messages`: the recent ones in full, older ones behind a placeholder."""
        await self.remove_children()
        self._folded = []
        split = max(0, len(messages) - RECENT_MESSAGES)
        # never split a code block from its output: start the recent part at a user/assistant message
        while 0 < split < len(messages) and messages[split].get("role") == "computer":
            split -= 1
        self._earlier = messages[:split]
        widgets: list[Widget] = []
        if self._earlier:
            widgets.append(EarlierMessages(sum(1 for message in self._earlier if _has_light_form(message))))
        widgets.extend(self._full_widgets(messages[split:]))
        with self.app.batch_update():
            await self.mount_all(widgets)
        self.anchor()

    def _full_widgets(self, messages: list[dict[str, Any]]) -> list[Widget]:
        from .chat_messages import AssistantMessage, LightReply, NoticeMessage, UserMessage
        from .code_block import CodeBlock
        from .history_page import HistoryPage

        widgets: list[Widget] = []
        block: CodeBlock | None = None
        replies = [i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("type") == "message"]
        full_from = replies[-FULL_MARKDOWN_REPLIES] if len(replies) >= FULL_MARKDOWN_REPLIES else 0
        for index, message in enumerate(messages):
            role, kind = message.get("role"), message.get("type")
            text = _text_of(message)
            if role == "user" and kind == "message":
                widgets.append(UserMessage(text))
                block = None
            elif role == "assistant" and kind == "message":
                widgets.append(AssistantMessage(text) if index >= full_from else LightReply(text))
                block = None
            elif role == "assistant" and kind == "code":
                block = CodeBlock(str(message.get("format") or "text"), text)
                block.language_guessed = bool(message.get("language_guessed"))
                block.state = "done"
                widgets.append(block)
            elif role == "computer" and kind == "console" and message.get("format") == "output":
                if block is not None:
                    block.output += text
                    if message.get("not_run"):  # skipped, declined or stopped before approval: it never ran
                        block.state = "not_run"
                    elif message.get("status") == "error":
                        block.state = "failed"
                    elif message.get("status") == "stopped":
                        block.state = "stopped"
                else:
                    widgets.append(HistoryPage([("computer", text)]))
            elif role == "computer" and kind == "message":  # e.g. "the user undid the file changes": seen on resume
                widgets.append(NoticeMessage(text.removeprefix("[oi-tui] ")))
            elif kind == "image":
                widgets.append(HistoryPage([("computer", f"[image: {message.get('format')}]")]))
        return widgets

    @property
    def has_earlier(self) -> bool:
        """Older messages wait behind "show earlier" (its placeholder is always the first child: no DOM walk)."""
        if not self.children:
            return False
        return isinstance(self.children[0], EarlierMessages)

    def _hidden(self) -> list[tuple[str, str]]:
        """Everything behind the placeholder as (role, text), oldest first; from now on kept in that form."""
        if self._earlier:
            self._folded = [(str(m.get("role")), _text_of(m)) for m in self._earlier if _has_light_form(m)] + self._folded
            self._earlier = []
        return self._folded

    @on(EarlierMessages.RevealRequested)
    async def reveal_earlier(self, event: EarlierMessages.RevealRequested) -> None:
        event.stop()
        await self.reveal_all()

    async def reveal_all(self) -> None:
        """Mount every older message in its light form, in place of the placeholder, and go to the start."""
        from .history_page import HistoryPage

        placeholder = self.query(EarlierMessages).first()
        earlier = self._hidden()
        self._folded = []
        self.release_anchor()
        with self.app.batch_update():
            for start in range(0, len(earlier), REVEAL_BATCH):  # batches: the loop is never held for long
                await self.mount(HistoryPage(earlier[start:start + REVEAL_BATCH]), before=placeholder)
            await placeholder.remove()
        self.scroll_home(animate=False)

    async def reveal_page(self) -> None:
        """PgUp at the top: about a page of older messages appears above, in its light form (one widget).

        Only as many messages as fit the page are drawn (cheap), and the view stays at the top, so the first
        frame already shows the new page with what was on screen right below it: nothing jumps.
        """
        from .history_page import HistoryPage

        placeholder = self.query(EarlierMessages).first()
        hidden = self._hidden()
        page = self.scrollable_content_region.height
        width = self.scrollable_content_region.width
        take, rows = 0, 2  # the placeholder's line and margin stay on top
        while take < len(hidden):
            role, text = hidden[-1 - take]
            need = HistoryPage.estimated_rows(role, text, width)
            if take and rows + need > page:
                break
            rows, take = rows + need, take + 1
        split = len(hidden) - take
        batch, self._folded = hidden[split:], hidden[:split]
        self.release_anchor()
        height_before = self.virtual_size.height
        with self.app.batch_update():
            await self.mount(HistoryPage(batch), after=placeholder)
            if self._folded:
                placeholder.set_count(len(self._folded))
            else:
                await placeholder.remove()
        self.call_after_refresh(self._show_page_above, height_before, page)

    def _show_page_above(self, height_before: int, page: int) -> None:
        """When one message alone is taller than the page, show its end, just above what was read."""
        added = self.virtual_size.height - height_before
        if added > page:
            self.scroll_to(y=added - page, animate=False, immediate=True)
