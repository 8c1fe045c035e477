"""Items of the transcript: user and assistant messages, notices, and the light form of old history.

Every text here comes from outside (the model, a saved file, a server) and passes the one sanitiser,
oi_core.sanitize.terminal_safe, before it is shown: no escape sequence reaches the terminal.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widget import Widget
from textual.widgets import Static

from oi_core.sanitize import terminal_safe

from ..markdown_depth import ListDepthLimiter, limit_list_depth, reply_parser
from ..reply_blocks import BIG_BLOCK, BlockSplitter, aligned_table, is_table
from .rendered_markdown import RenderedMarkdown
from .sized_by_layout import LaidOutByMount, SizedByLayout
from .streamed_text import StreamedText

if TYPE_CHECKING:
    from textual.widget import AwaitMount
    from textual.widgets import Markdown

#: An escape sequence that may still be going on at the end of a streamed fragment (held for the next one).
_UNFINISHED_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*|[ -/]*)?$")
#: Longer than this, an unterminated sequence is not waited for any more.
_HOLD_LIMIT = 4096


def reply_markdown(text: str = "") -> Markdown:
    """Textual's Markdown with the reply parser. Imported here, not at the top: with markdown-it and pygments
    it takes ~25 ms, which the first frame (no reply yet) need not wait for (oi_tui.preload)."""
    return _reply_markdown_class()(text, parser_factory=reply_parser)


@functools.cache
def _reply_markdown_class() -> type[Markdown]:
    """Textual's Markdown, its blocks included, sized by layout (SizedByLayout) and laid out by their mount."""
    from textual.widgets import Markdown

    sized: dict[type, type] = {}

    class ReplyMarkdown(SizedByLayout, Markdown):
        def get_block_class(self, block_name: str) -> type:
            block = super().get_block_class(block_name)
            if block not in sized:
                sized[block] = type(block.__name__, (LaidOutByMount, SizedByLayout, block), {})
            return sized[block]

    return ReplyMarkdown


class UserMessage(SizedByLayout, Static):
    """What the user sent, shown verbatim (control characters made visible)."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(terminal_safe(text), markup=False, **kwargs)
        self.text = text


class ReplyPart(RenderedMarkdown):
    """Finished blocks of a long reply, rendered once by Rich into one widget (the screen stays cheap to lay out)."""


#: The class of a reply's part that has another part above it: chat.tcss puts a blank line between them. A
#: `:first-child` rule would do it without a class, but Textual restyles every child matched by such a rule,
#: and all of its descendants, each time a sibling is mounted: every Markdown part with all its blocks, on
#: each flush of a streaming reply (~11 ms each).
CONTINUED = "-continued"


class AssistantMessage(SizedByLayout, Widget):
    """A reply from the model, formatted block by block as it streams; linear in its length.

    Streamed text is only buffered by `write`; `flush` (the chat screen calls it a few times a second,
    less while the user types) renders it: each finished block is parsed once into the Markdown widget,
    the block still being written shows as plain text below it (StreamedText), and blocks too long to
    format are kept as plain text or an aligned table (reply_blocks.py). A long reply rolls over to a new
    Markdown widget every `LIVE_BLOCKS` blocks, and the full ones are sealed into one light widget each,
    so laying out the screen never walks thousands of widgets.
    """

    DEFAULT_CSS = """
    AssistantMessage { height: auto; }
    AssistantMessage > StreamedText { padding: 0 1; margin: 0 0 1 0; }
    AssistantMessage > StreamedText.-tail { margin: 0; color: $text; }
    AssistantMessage > ReplyPart { padding: 0 1; margin: 0; }
    """

    #: Blocks in one Markdown widget before the reply rolls over to a new one.
    LIVE_BLOCKS = 30
    #: Finished blocks formatted by one flush. A reply that arrives all at once (a cache, a fast local model)
    #: is drawn over several frames, the keyboard served between them, instead of in one long layout
    #: (130 KB held keys for ~250 ms).
    BLOCKS_PER_FLUSH = 30
    #: Pause between two batches of a reply that has ended but is not all drawn yet.
    DRAIN_INTERVAL = 0.05

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = limit_list_depth(terminal_safe(text)) if text else ""
        self._parts: list[str] = [self._initial] if text else []
        self._unflushed: list[str] = []
        self._backlog: list[str] = []  # finished blocks waiting for a flush to format them
        self._ending = False  # the reply has ended: the last batches are drawn by the reply itself
        self._held = ""
        self._depth = ListDepthLimiter()
        self._splitter = BlockSplitter()
        self._live: Markdown | None = None  # the Markdown widget finished blocks are appended to
        self._live_blocks = 0
        self._full: list[Markdown] = []  # Markdown widgets that rolled over, to be sealed
        self._tail: StreamedText | None = None
        self._tail_generation = -1
        self._tail_shown = 0
        self._streaming = False
        self._stopped = False
        self._rendering = asyncio.Lock()

    def compose(self) -> ComposeResult:
        if not self._initial:
            self._live = reply_markdown()  # the first finished blocks go here
            yield self._live
            return
        yield from _continued(self._finished_widgets(self._initial), first_above=False)

    def _finished_widgets(self, text: str) -> list[Widget]:
        """A whole reply as widgets: Markdown for the last run of normal blocks, light widgets before it."""
        if len(text) <= BIG_BLOCK:
            return [reply_markdown(text)]
        splitter = BlockSplitter()
        blocks = splitter.feed(text)
        last = splitter.close()
        if last:
            blocks.append(last)
        widgets, run = _light_widgets(blocks)
        if run:
            widgets.append(reply_markdown("".join(run)))
        return widgets

    @property
    def markdown(self) -> Markdown:
        """The Markdown widget holding the reply's latest finished blocks."""
        from textual.widgets import Markdown

        return self.query(Markdown).last()

    @property
    def text(self) -> str:
        """The whole reply received so far as shown (sanitised; not only what has been rendered)."""
        return "".join(self._parts)

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def unflushed(self) -> bool:
        """Text arrived that `flush` has not rendered yet."""
        return bool(self._unflushed or self._backlog)

    async def write(self, fragment: str) -> None:
        """Append streamed text; an escape sequence cut between two fragments is held until it is whole."""
        text = self._held + fragment
        unfinished = _UNFINISHED_ESCAPE.search(text)
        if unfinished is not None and len(text) - unfinished.start() <= _HOLD_LIMIT:
            text, self._held = text[: unfinished.start()], text[unfinished.start():]
        else:
            self._held = ""
        if text:
            self._buffer(terminal_safe(text))

    def _buffer(self, shown: str) -> None:
        shown = self._depth.feed(shown)
        self._streaming = True
        if shown:
            self._parts.append(shown)
            self._unflushed.append(shown)

    async def flush(self) -> None:
        """Render what arrived since the last flush: finished blocks formatted once (at most BLOCKS_PER_FLUSH,
        the rest by the next flushes), the block still being written as plain text once the rest is drawn."""
        if self._stopped or not (self._unflushed or self._backlog):
            return
        self._split_unflushed()
        async with self._rendering:
            with self.app.batch_update():  # one frame for the whole flush, however many widgets change
                await self._draw_batch()
                if not self._backlog and not self._ending:
                    await self._show_tail()
                self._seal_hidden()

    def _split_unflushed(self) -> None:
        """Text arrived since the last flush, its finished blocks onto the backlog (the rest stays the tail)."""
        if self._unflushed:
            text = "".join(self._unflushed)
            self._unflushed.clear()
            self._backlog.extend(self._splitter.feed(text))

    async def _draw_batch(self) -> None:
        batch, self._backlog = self._backlog[: self.BLOCKS_PER_FLUSH], self._backlog[self.BLOCKS_PER_FLUSH:]
        if len(self._backlog) < self.LIVE_BLOCKS:
            await self._add_blocks(batch)
            return
        # A burst: the blocks still to come push these off the screen at once. Drawn light, as sealing would
        # leave them (one Rich-rendered widget per run), instead of a Markdown widget per block to style.
        if self._live is not None and not self._live_blocks:  # still empty: nothing to keep above the batch
            await self._live.remove()
            self._live = None
        self._roll_over()
        widgets, run = _light_widgets(batch)
        if run:
            widgets.append(ReplyPart("".join(run)))
        await self._mount_parts(widgets, before=self._tail)

    async def finish(self) -> None:
        """End the stream: what is still buffered is drawn now, or over the next frames if it is long."""
        if self._held:
            held, self._held = self._held, ""
            self._buffer(terminal_safe(held))
        rest = self._depth.close()
        if rest:
            self._parts.append(rest)
            self._unflushed.append(rest)
        self._split_unflushed()
        last = self._splitter.close()
        if last:
            self._backlog.append(last)
        self._ending = True
        await self._drain()

    async def _drain(self) -> None:
        """One batch of an ended reply; the next one after DRAIN_INTERVAL, the end of the stream after the last."""
        async with self._rendering:
            if self._stopped:  # stopped: what is on screen stays as it is
                self._backlog.clear()
                self._tail = None
            else:
                with self.app.batch_update():
                    await self._draw_batch()
                    if not self._backlog and self._tail is not None:
                        await self._tail.remove()
                        self._tail = None
            self._seal_hidden()
        if self._backlog:
            self.set_timer(self.DRAIN_INTERVAL, self._drain)
        else:
            self._streaming = False

    def stop_rendering(self) -> None:
        """The user stopped the reply: nothing more is drawn (what arrived is still in `text` and saved)."""
        self._stopped = True
        self._unflushed.clear()
        self._backlog.clear()

    async def _add_blocks(self, blocks: list[str]) -> None:
        """Finished blocks, in order: runs of normal ones go to the live Markdown in one append (one parse,
        one mount: a fast stream finishes dozens of blocks between two flushes), oversized ones as plain text."""
        run: list[str] = []
        for block in blocks:
            if len(block) > BIG_BLOCK:  # shown as it streamed (plain), or as an aligned table
                await self._append_run(run)
                run = []
                self._roll_over()
                part = StreamedText(aligned_table(block) if is_table(block) else block)
                await self._mount_parts([part], before=self._tail)
                continue
            run.append(block)
            if self._live_blocks + len(run) >= self.LIVE_BLOCKS:
                await self._append_run(run)
                run = []
                self._roll_over()
        await self._append_run(run)

    async def _append_run(self, run: list[str]) -> None:
        if not run:
            return
        if self._live is None:
            self._live = reply_markdown()
            self._live_blocks = 0
            await self._mount_parts([self._live], before=self._tail)
        await self._live.append("".join(run))
        self._live_blocks += len(run)

    def _roll_over(self) -> None:
        if self._live is not None:
            self._full.append(self._live)
            self._live = None
        self._live_blocks = 0  # counted again from the next live widget (left as it was, it rolled over that
        # one after its first block)

    def _mount_parts(self, parts: list[Widget], *, before: Widget | None) -> AwaitMount:
        """Mount parts of the reply, each marked CONTINUED when another part is above it."""
        above = self.children.index(before) if before is not None else len(self.children)
        return self.mount_all(_continued(parts, first_above=bool(above)), before=before)

    async def _show_tail(self) -> None:
        """The block being written, as plain text; it starts over when a block is finished."""
        tail = self._splitter.tail
        if self._tail is None:
            if not tail:
                return
            self._tail = StreamedText(classes="-tail")
            await self.mount(self._tail)
            self._tail_generation, self._tail_shown = self._splitter.generation, 0
        if self._tail_generation != self._splitter.generation:
            self._tail.clear()
            self._tail_generation, self._tail_shown = self._splitter.generation, 0
        self._tail.append(tail[self._tail_shown:])
        self._tail_shown = len(tail)

    def _seal_hidden(self) -> None:
        """Replace rolled-over Markdown widgets by one light widget each, when that cannot move the view."""
        if not self._full:
            return
        transcript = self.parent
        if isinstance(transcript, ScrollableContainer) and transcript.scroll_y < transcript.max_scroll_y - 1:
            return  # the user scrolled back: heights must not change above what they read
        for markdown in list(self._full):
            if _on_screen(markdown):
                continue
            self._full.remove(markdown)
            self._mount_parts([ReplyPart(markdown.source)], before=markdown)
            markdown.remove()


def _continued(parts: list[Widget], *, first_above: bool) -> list[Widget]:
    """The parts, each marked CONTINUED when another part of the reply is above it."""
    for index, part in enumerate(parts):
        if first_above or index:
            part.add_class(CONTINUED)
    return parts


def _light_widgets(blocks: list[str]) -> tuple[list[Widget], list[str]]:
    """Blocks as light widgets (ReplyPart for runs of normal blocks, plain text or an aligned table for oversized
    ones), and the run of normal blocks left at the end, for the caller to place."""
    widgets: list[Widget] = []
    run: list[str] = []
    for block in blocks:
        if len(block) <= BIG_BLOCK:
            run.append(block)
            continue
        if run:
            widgets.append(ReplyPart("".join(run)))
            run = []
        widgets.append(StreamedText(aligned_table(block) if is_table(block) else block))
    return widgets, run


def _on_screen(widget: Widget) -> bool:
    try:
        region = widget.region
    except Exception:  # not laid out yet
        return False
    return bool(region) and bool(region.intersection(widget.screen.region))


class NoticeMessage(SizedByLayout, Static):
    """Text from the core that is not part of the conversation (magic command output, notices)."""

    def __init__(self, text: str, **kwargs) -> None:
        kwargs["markup"] = False
        super().__init__(terminal_safe(text), **kwargs)
        self.text = text


class LightReply(RenderedMarkdown):
    """A finished reply rendered by Rich as one widget (cheap to mount; used for older history)."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(terminal_safe(text), **kwargs)
        self.text = text
