"""Streaming stays cheap: provider streams off the UI loop, replies rendered block by block, linear in size."""

from __future__ import annotations

import asyncio
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from oi_core.llm_relay import relay
from oi_tui.reply_blocks import BIG_BLOCK, BlockSplitter, aligned_table, is_table
from oi_tui.widgets.streamed_text import wrap_line

# ---------------------------------------------------------------- the relay


async def _heartbeat_gaps(stop: asyncio.Event) -> list[float]:
    gaps: list[float] = []
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    return gaps


async def _flood(count: int):
    """A provider whose chunks are all buffered already: it never waits, so a reader on its loop never yields."""
    for i in range(count):
        sum(range(300))  # a little CPU per chunk, like parsing one
        yield i


async def test_a_flooding_provider_does_not_starve_the_callers_loop() -> None:
    async def read(stream) -> list[int]:
        items = []
        async for item in stream:
            sum(range(600))  # the reader's own work per chunk (the core's): it falls behind, chunks queue up
            items.append(item)
        return items

    for through_relay in (False, True):
        stop = asyncio.Event()
        beat = asyncio.ensure_future(_heartbeat_gaps(stop))
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        items = await read(relay(lambda: _flood(30_000)) if through_relay else _flood(30_000))
        took = time.perf_counter() - started
        stop.set()
        gaps = await beat
        assert items == list(range(30_000))
        if not through_relay:
            direct_gap = max(gaps)
            assert direct_gap > 0.8 * took, "read on the caller's loop, the stream never lets it run"
        else:
            # the caller's loop gets a turn every few ms (GIL switches included); generous for a loaded box
            assert max(gaps) < min(0.25, direct_gap / 2), (max(gaps), direct_gap)


async def test_relay_raises_the_providers_error_and_closing_cancels_it() -> None:
    async def failing():
        yield 1
        raise ValueError("provider said no")

    got = []
    try:
        async for item in relay(failing):
            got.append(item)
    except ValueError as exc:
        assert str(exc) == "provider said no"
    else:
        raise AssertionError("the error did not reach the reader")
    assert got == [1]

    closed = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def endless():
        try:
            while True:
                yield "x"
                await asyncio.sleep(0.001)
        finally:
            loop.call_soon_threadsafe(closed.set)

    stream = relay(endless)
    assert await stream.__anext__() == "x"
    await stream.aclose()
    await asyncio.wait_for(closed.wait(), 5)


# ---------------------------------------------------------------- wrapping and blocks


words = st.text(alphabet=st.sampled_from(list("ab cd  efg\t界😀-")), max_size=300)


@settings(max_examples=200, deadline=None)
@given(words, st.integers(1, 30))
def test_wrapped_rows_give_back_the_line_and_fit(line: str, width: int) -> None:
    from rich.cells import cell_len

    line = line.replace("\t", " ")
    rows = wrap_line(line, width)
    assert "".join(rows) == line
    for row in rows:
        assert cell_len(row.rstrip(" ")) <= max(width, 2)  # a wide char alone may not fit a 1-cell row


@settings(max_examples=150, deadline=None)
@given(st.lists(words, min_size=1, max_size=6), st.lists(st.integers(0, 2000), max_size=30), st.integers(5, 40))
@example(["aaaaa  b"], [6], 5)  # spaces past a row's edge, then more spaces: they end the row before
@example(["ab cdefghij"], [8], 5)  # a word that grows wider than a row: the break before it stays put
def test_streamed_text_wraps_the_same_however_it_arrives(lines, cuts, width) -> None:
    from oi_tui.widgets.streamed_text import StreamedText

    text = "\n".join(line.replace("\t", " ") for line in lines)
    whole = StreamedText(text)
    whole._wrap_all(width)
    streamed = StreamedText()
    streamed._wrap_all(width)
    previous = 0
    for cut in sorted({c for c in cuts if 0 < c < len(text)}) + [len(text)]:
        streamed.append(text[previous:cut])
        previous = cut
    assert streamed._wrapped == whole._wrapped
    assert streamed.text == text


REPLY = (
    "Intro paragraph with **bold** text.\n\n"
    "```python\nx = 1\n\n\ny = 2\n```\n\n"
    "- item one\n\n- item two\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n\n"
    "Closing words"
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(REPLY)), max_size=40))
def test_blocks_and_tail_give_back_the_reply_for_any_chunking(cuts: list[int]) -> None:
    splitter = BlockSplitter()
    blocks: list[str] = []
    previous = 0
    for cut in sorted(set(cuts)) + [len(REPLY)]:
        blocks += splitter.feed(REPLY[previous:cut])
        previous = cut
    assert "".join(blocks) + splitter.tail == REPLY
    assert splitter.close() == "\nClosing words"  # extra blank lines open the next block
    assert any(block.startswith("```python") and "y = 2" in block for block in blocks), "a fence is one block"
    assert all(block.endswith("\n") for block in blocks)


def test_a_huge_table_is_aligned_in_linear_time() -> None:
    rows = "".join(f"| row {i} | {'x' * (i % 50)} | {i * 3} |\n" for i in range(3000))
    block = "| name | filler | value |\n|---|:---:|--:|\n" + rows
    assert len(block) > BIG_BLOCK and is_table(block)
    started = time.perf_counter()
    shown = aligned_table(block)
    assert time.perf_counter() - started < 1.0
    lines = shown.splitlines()
    assert len(lines) == 3002
    assert lines[0].startswith("name ") and "│" in lines[0] and "┼" in lines[1]
    assert lines[2].split("│")[0].strip() == "row 0"
    positions = {line.index("│") for line in lines if "│" in line}
    assert len(positions) == 1, "columns line up"
    assert "…" in shown, "cells wider than the column limit are cut with an ellipsis"


# ---------------------------------------------------------------- the bridge under a slow UI


async def test_the_bridge_merges_while_the_ui_is_busy_instead_of_queueing() -> None:
    """A producer far faster than the screen: bursts stay few and merged, nothing is lost or reordered."""
    from textual.app import App

    from oi_core.bus import EventBus
    from oi_core.events import ChunkEmitted
    from oi_tui.bridge import BusBridge, CoreEventsArrived

    received: list = []
    bursts: list[int] = []

    class SlowScreenApp(App):
        async def on_core_events_arrived(self, message: CoreEventsArrived) -> None:
            try:
                bursts.append(len(message.events))
                received.extend(message.events)
                await asyncio.sleep(0.05)  # a slow frame
            finally:
                if getattr(message, "handled", None) is not None:
                    message.handled.set()

    bus = EventBus()
    app = SlowScreenApp()
    async with app.run_test() as pilot:
        bridge = BusBridge(bus, app)
        app.run_worker(bridge.run())
        await pilot.pause()
        for i in range(3000):
            bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "content": f"{i} "}))
            if i % 100 == 0:
                bus.publish(ChunkEmitted({"role": "computer", "type": "console", "format": "active_line",
                                          "content": i}))
            if i % 10 == 0:
                await asyncio.sleep(0.002)  # the producer yields often: each gap is a chance to post
        bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "end": True}))
        deadline = time.monotonic() + 20
        while not (received and received[-1].chunk.get("end")) and time.monotonic() < deadline:
            await pilot.pause(0.05)
    text = "".join(e.chunk.get("content", "") for e in received if e.chunk.get("type") == "message"
                   and isinstance(e.chunk.get("content"), str))
    assert text == "".join(f"{i} " for i in range(3000))
    assert len(bursts) < 200, "one burst per UI turn, not one per event"
    assert len(received) < 500, "text merged while waiting (3,000 chunks, 30 line marks)"


def reply_host(transcript: bool = False):
    """An app holding one AssistantMessage in a scrolling container, or (`transcript`) in the transcript."""
    from textual.app import App
    from textual.containers import VerticalScroll

    from oi_tui.widgets.chat_messages import AssistantMessage
    from oi_tui.widgets.transcript import Transcript

    class Host(App[None]):
        def compose(self):
            with Transcript() if transcript else VerticalScroll():
                yield AssistantMessage()

    return Host()


async def test_a_fast_stream_renders_the_blocks_of_one_flush_in_one_append(monkeypatch) -> None:
    """Dozens of paragraphs can finish between two flushes: one Markdown parse and mount for them, not one each."""
    from textual.widgets import Markdown

    from oi_tui.widgets.chat_messages import AssistantMessage

    appends: list[str] = []
    real_append = Markdown.append
    monkeypatch.setattr(Markdown, "append", lambda self, text: appends.append(text) or real_append(self, text))

    paragraphs = [f"Paragraph {i}: some *words* here." for i in range(50)]
    async with reply_host().run_test(size=(80, 24)) as pilot:
        reply = pilot.app.query_one(AssistantMessage)
        await reply.write("\n\n".join(paragraphs) + "\n\n")
        await reply.flush()
        await reply.finish()
        await pilot.pause()
        assert len(appends) <= -(-50 // AssistantMessage.LIVE_BLOCKS) + 1, appends  # + the last block, at finish
        parts = [getattr(part, "text", None) or getattr(part, "source", "") for part in reply.children]
        shown = "\n\n".join(part.strip() for part in parts if part.strip())
        assert shown == "\n\n".join(paragraphs), "every paragraph, once, in order"


async def test_a_flush_of_a_streaming_reply_costs_one_layout() -> None:
    """The new blocks of a flush had their text set before they were mounted; Textual sent that layout request
    only once they first went idle, after the layout their mount caused: two layouts of the screen a flush."""
    from oi_tui.widgets.chat_messages import AssistantMessage

    async with reply_host(transcript=True).run_test(size=(80, 24)) as pilot:
        reply = pilot.app.query_one(AssistantMessage)
        await reply.write("".join(f"Paragraph {i} above.\n\n" for i in range(20)))  # the scrollbar is there
        await reply.flush()
        await pilot.pause(0.3)
        layouts: list[int] = []
        pilot.app.screen.screen_layout_refresh_signal.subscribe(reply, lambda _screen: layouts.append(1),
                                                                 immediate=True)
        for flush in range(4):
            layouts.clear()
            await reply.write("".join(f"Paragraph {flush}.{i}: some *words* here.\n\n" for i in range(5)))
            await reply.flush()
            await pilot.pause(0.3)
            assert len(layouts) == 1, f"{len(layouts)} layouts of the screen for one flush"


async def test_a_transcript_that_grows_is_not_repainted_whole_a_second_time() -> None:
    """Textual repaints a widget whose virtual size changed. The layout that grew the transcript has already
    painted what moved, so that repaint drew the whole pane again a frame later (~10 KB to the terminal) after
    each flush and each page of older messages, for nothing."""
    from oi_tui.widgets.chat_messages import AssistantMessage
    from oi_tui.widgets.transcript import Transcript

    async with reply_host(transcript=True).run_test(size=(80, 24)) as pilot:
        reply = pilot.app.query_one(AssistantMessage)
        transcript = pilot.app.query_one(Transcript)
        await reply.write("".join(f"Paragraph {i} above.\n\n" for i in range(20)))
        await reply.flush()
        await pilot.pause(0.3)
        repaints: list[int] = []
        refresh = transcript.refresh

        def spy(*regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
            if repaint and not layout and not regions:
                repaints.append(1)
            return refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

        transcript.refresh = spy  # type: ignore[method-assign]
        height = transcript.virtual_size.height
        for flush in range(3):
            await reply.write("".join(f"Paragraph {flush}.{i}: some *words* here.\n\n" for i in range(5)))
            await reply.flush()
            await pilot.pause(0.3)
        assert transcript.virtual_size.height > height + 20, "the reply grew the transcript"
        assert not repaints, f"the whole transcript was repainted {len(repaints)} times more"


async def test_a_reply_that_arrives_all_at_once_is_drawn_over_several_frames() -> None:
    """A cache or a fast local model can hand over a whole long reply at once: it is drawn a batch per frame
    (the keyboard served between them), and what the rest pushes off the screen is drawn light at once, as
    sealing would leave it, instead of a Markdown widget per paragraph (130 KB held keys for ~250 ms)."""
    from textual.widgets import Markdown

    from oi_tui.widgets.chat_messages import AssistantMessage, ReplyPart

    paragraphs = [f"Paragraph {i}: some *words* here, and a few more of them." for i in range(400)]
    async with reply_host().run_test(size=(80, 24)) as pilot:
        reply = pilot.app.query_one(AssistantMessage)
        await reply.write("\n\n".join(paragraphs))
        await reply.finish()
        drawn = [getattr(part, "text", None) or getattr(part, "source", "") for part in reply.children]
        assert reply.streaming, "the rest comes over the next frames"
        assert "".join(drawn).count("Paragraph") <= AssistantMessage.BLOCKS_PER_FLUSH, "one batch as it ended"
        deadline = time.monotonic() + 30
        while reply.streaming and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert not reply.streaming
        await pilot.pause()
        parts = [getattr(part, "text", None) or getattr(part, "source", "") for part in reply.children]
        shown = "\n\n".join(part.strip() for part in parts if part.strip())
        assert shown == "\n\n".join(paragraphs), "every paragraph, once, in order"
        assert len(reply.query(Markdown)) <= 2, "only the newest blocks are Markdown widgets"
        assert len(reply.query(ReplyPart)) >= (400 - 2 * AssistantMessage.LIVE_BLOCKS) // AssistantMessage.BLOCKS_PER_FLUSH


def test_merging_a_flood_of_chunks_is_linear() -> None:
    """Joining each chunk's text to the merged text as it came copied the whole text again every time."""
    from oi_core.events import ChunkEmitted
    from oi_tui.bridge import merge_chunks

    pieces = [f"{i:07d}" for i in range(200_000)]
    started = time.perf_counter()
    merged = merge_chunks([ChunkEmitted({"role": "assistant", "type": "message", "content": p}) for p in pieces])
    took = time.perf_counter() - started
    assert len(merged) == 1 and merged[0].chunk["content"] == "".join(pieces)
    assert took < 3.0, f"{took:.1f} s for 200,000 chunks (1.4 MB): quadratic copying takes far longer"


async def test_a_long_reply_rolls_over_to_a_new_markdown_widget_every_live_blocks() -> None:
    """After a roll-over the count started from the full widget's: the next one rolled over after one block."""
    from oi_tui.widgets.chat_messages import AssistantMessage

    live = AssistantMessage.LIVE_BLOCKS
    async with reply_host().run_test(size=(80, 24)) as pilot:
        reply = pilot.app.query_one(AssistantMessage)
        for start in range(0, 2 * live + 5, 5):
            await reply.write("".join(f"Paragraph {i}.\n\n" for i in range(start, start + 5)))
            await reply.flush()
        await reply.finish()
        await pilot.pause()
        parts = [getattr(part, "text", None) or getattr(part, "source", "") for part in reply.children]
        sizes = [part.count("Paragraph") for part in parts if part]  # Markdown widgets, or what sealing left
        assert sizes == [live, live, 5], sizes


async def test_the_parts_of_a_long_reply_are_a_blank_line_apart(make_interpreter, llm) -> None:
    """A long reply is several widgets (a new one every LIVE_BLOCKS blocks): between two of them, the same
    blank line as between any two paragraphs."""
    from oi_tui.app import OiApp
    from oi_tui.widgets.chat_messages import AssistantMessage
    from tests.tui_support import chat, send, wait_for

    paragraphs = [f"Paragraph {i}." for i in range(5 * AssistantMessage.LIVE_BLOCKS + 5)]
    llm.queue("\n\n".join(paragraphs))  # sent at once: drawn light first (see above), then the newest blocks
    app = OiApp(make_interpreter())
    async with app.run_test(size=(80, 400)) as pilot:
        await send(pilot, "many paragraphs")
        await wait_for(pilot, lambda: not app.busy and app.query(AssistantMessage)
                       and not app.query(AssistantMessage).last().streaming, timeout=30)
        await pilot.pause()
        reply = chat(app).query(AssistantMessage).last()
        parts = [part for part in reply.children if part.region.height]
        assert len(parts) >= 3, parts
        assert parts[0].styles.margin.top == 0
        assert all(part.styles.margin.top == 1 for part in parts[1:]), [part.styles.margin for part in parts]
        rows = [part.region for part in parts]
        assert all(below.y == above.bottom + 1 for above, below in zip(rows, rows[1:])), rows


async def test_mounting_a_part_of_a_reply_restyles_no_other_part(make_interpreter, llm) -> None:
    """Each flush mounts parts into the reply. With a `:first-child` rule in the CSS, Textual restyled every
    Markdown part, with all its blocks, on each such mount (~11 ms a flush while a long reply streams)."""
    from oi_tui.app import OiApp
    from oi_tui.widgets.chat_messages import AssistantMessage
    from tests.tui_support import send, wait_for

    llm.queue("\n\n".join(f"Paragraph {i}." for i in range(5 * AssistantMessage.LIVE_BLOCKS + 5)))
    app = OiApp(make_interpreter())
    restyled: list[str] = []
    update_styles = app.update_styles

    def spy(node, animate: bool = True) -> None:
        if isinstance(node.parent, AssistantMessage):
            restyled.append(type(node).__name__)
        update_styles(node, animate)

    app.update_styles = spy  # type: ignore[method-assign]
    async with app.run_test(size=(80, 400)) as pilot:
        await send(pilot, "many paragraphs")
        await wait_for(pilot, lambda: not app.busy and app.query(AssistantMessage)
                       and not app.query(AssistantMessage).last().streaming, timeout=30)
        await pilot.pause()
        assert len(app.query(AssistantMessage).last().children) >= 3  # parts were mounted beside others
    assert restyled == [], restyled
