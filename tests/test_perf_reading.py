"""Reading a long conversation from the keyboard: PgUp/PgDn/Home/End from the prompt, newest, folded code."""

from __future__ import annotations

import contextlib

import pytest

from oi_tui.app import OiApp
from oi_tui.widgets.code_block import CodeBlock
from tests.llm_server import Reply
from tests.tui_support import chat, send, wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (100, 30)


def long_reply(paragraphs: int = 40) -> str:
    return "\n\n".join(f"Paragraph {i}: " + "words that fill the line " * 6 for i in range(paragraphs))


def footer_text(app: OiApp) -> str:
    return " ".join(str(key.render()) for key in app.screen.query("FooterKey"))


def texts_of(widgets) -> list[str]:
    """What the transcript's items say, in order; a page of older messages says each of its messages."""
    from oi_tui.widgets.history_page import HistoryPage

    return [text for widget in widgets
            for text in ([text for _role, text in widget.messages] if isinstance(widget, HistoryPage) else [widget.text])]


def footer_hints(app: OiApp) -> dict[str, str]:
    """Each footer description with the key it shows."""
    return {key.description: key.key_display for key in app.screen.query("FooterKey")}


async def test_page_keys_scroll_the_transcript_from_the_prompt(make_interpreter, llm) -> None:
    llm.queue(Reply(text=long_reply(), chunk_size=200))
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        screen = chat(app)
        await pilot.pause(0.1)
        assert "PgUp/PgDn" not in footer_text(app), "nothing to scroll yet: the footer does not offer it"
        await send(pilot, "write a lot")
        await wait_for(pilot, lambda: screen.status == "idle" and not screen.transcript.query("StreamedText"))
        await pilot.pause(0.2)
        transcript = screen.transcript
        bottom = transcript.max_scroll_y
        assert bottom > 50 and transcript.scroll_y == bottom
        assert "PgUp/PgDn" in footer_text(app) and "Newest" not in footer_text(app)

        await pilot.press("pageup")
        await pilot.pause(0.1)
        assert transcript.scroll_y < bottom and app.query_one("#prompt").has_focus
        await wait_for(pilot, lambda: "Newest" in footer_text(app), timeout=2)  # the way back, once keys pause
        await pilot.press("pageup", "pagedown")
        await pilot.pause(0.1)
        assert transcript.scroll_y < bottom
        await pilot.press("home")  # empty prompt: the start of the conversation
        await pilot.pause(0.1)
        assert transcript.scroll_y == 0
        await pilot.press("end")  # and back to the newest
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y

        # with text in the prompt, Home/End are the prompt's; ctrl+Home/End still move the transcript
        await pilot.press(*"abc")
        await pilot.press("home")
        assert app.query_one("#prompt").cursor_location == (0, 0)
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.press("end")
        assert app.query_one("#prompt").cursor_location == (0, 3)
        await pilot.press("ctrl+home")
        await pilot.pause(0.1)
        assert transcript.scroll_y == 0 and app.query_one("#prompt").text == "abc"
        # End is the prompt's now: the footer offers ctrl+End
        await wait_for(pilot, lambda: footer_hints(app).get("Newest") == "^end", timeout=2)
        await pilot.press("ctrl+end")
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y

        # an empty prompt again: End is offered, and ctrl+End still works though the footer no longer names it
        await pilot.press("backspace", "backspace", "backspace", "pageup")
        await wait_for(pilot, lambda: footer_hints(app).get("Newest") == "end", timeout=2)
        await pilot.press("ctrl+end")
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_the_view_stays_where_the_reader_is_and_end_follows_again(make_interpreter, llm) -> None:
    llm.queue(Reply(text=long_reply(30), chunk_size=200))
    llm.queue(Reply(text=long_reply(60), chunk_size=40, chunk_delay=0.01))
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        screen = chat(app)
        transcript = screen.transcript
        await send(pilot, "first")
        await wait_for(pilot, lambda: screen.status == "idle" and not screen.transcript.query("StreamedText"))
        await send(pilot, "second")
        await wait_for(pilot, lambda: "Paragraph 3:" in (screen._reply.text if screen._reply else ""))
        await pilot.press("pageup", "pageup")
        await pilot.pause(0.2)
        held = transcript.scroll_y
        await pilot.pause(0.6)  # the reply keeps streaming below
        assert transcript.scroll_y == held, "reading back is not interrupted by new text"
        await pilot.press("end")
        await wait_for(pilot, lambda: screen.status == "idle")
        await pilot.pause(0.3)
        assert transcript.scroll_y == transcript.max_scroll_y, "End follows the newest text again"


async def test_folded_code_blocks_expand_on_demand(make_interpreter, llm) -> None:
    code = "\n".join(f"print({i})" for i in range(20))
    llm.queue(f"Here:\n\n```python\n{code}\n```\n")
    llm.queue("Printed twenty lines.")
    app = OiApp(make_interpreter(auto_run=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = chat(app)
        await send(pilot, "count")
        await wait_for(pilot, lambda: screen.status == "idle" and app.query(CodeBlock)
                       and "19" in app.query_one(CodeBlock).output, timeout=60)
        block = app.query_one(CodeBlock)
        body, output = block.query_one(".code-body"), block.query_one(".code-output")

        def shown(widget) -> str:
            return "\n".join(line.text for line in widget.render_lines(widget.region.reset_offset))

        assert block.collapsible and not block.expanded
        assert "more lines" in shown(body) and "print(19)" not in shown(body)
        assert "earlier lines" in shown(output)
        await pilot.press("f3")
        await pilot.pause(0.2)
        rows = [line.strip() for line in shown(output).split("\n")]
        assert block.expanded and "print(19)" in shown(body) and "0" in rows and "19" in rows
        screen.transcript.scroll_to_widget(body, animate=False, top=True)
        await pilot.pause(0.1)
        await pilot.click(body)
        await pilot.pause(0.2)
        assert not block.expanded and "print(19)" not in shown(body)
        assert app.query_one("#prompt").has_focus


async def test_a_long_live_session_keeps_a_bounded_window_and_loses_nothing(make_interpreter) -> None:
    """Past LIVE_ITEMS + FOLD_STEP items the oldest fold into "show earlier" (plain text), never while reading back."""
    from oi_tui.widgets.transcript import EarlierMessages
    from oi_tui.widgets.history_page import HistoryPage
    from oi_tui.widgets.transcript import FOLD_STEP, LIVE_ITEMS

    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        transcript = chat(app).transcript
        for i in range(150):
            await transcript.add_user(f"message {i}")
            if i % 10 == 0:
                await pilot.pause()
        await pilot.pause(0.1)
        live = [child for child in transcript.children if not isinstance(child, EarlierMessages)]
        assert LIVE_ITEMS <= len(live) <= LIVE_ITEMS + FOLD_STEP, "the mounted window stays bounded"
        assert live[-1].text == "message 149"
        placeholder = transcript.query_one(EarlierMessages)
        assert placeholder.count == 150 - len(live)

        transcript.scroll_home(animate=False)  # reading back: nothing above the reader moves
        await pilot.pause(0.1)
        before = len(transcript.children)
        for i in range(150, 150 + FOLD_STEP + 5):
            await transcript.add_user(f"message {i}")
        await pilot.pause(0.1)
        assert len(transcript.children) == before + FOLD_STEP + 5

        placeholder.post_message(EarlierMessages.RevealRequested())
        await wait_for(pilot, lambda: not transcript.query(EarlierMessages))
        assert texts_of(transcript.children) == [f"message {i}" for i in range(150 + FOLD_STEP + 5)], "all, in order"
        assert isinstance(transcript.children[0], HistoryPage)


def test_a_fold_always_hides_at_least_two_lines() -> None:
    """One hidden line behind a one-line hint saves nothing: a block one line over the limit shows whole."""
    from oi_tui.widgets.code_block import CODE_LINES_SHOWN, OUTPUT_LINES_SHOWN

    def block(code_lines: int, output_lines: int) -> CodeBlock:
        made = CodeBlock("python", "\n".join(f"print({i})" for i in range(code_lines)))
        made.output = "".join(f"line {i}\n" for i in range(output_lines))
        return made

    assert not block(CODE_LINES_SHOWN + 1, OUTPUT_LINES_SHOWN + 1).collapsible
    assert block(CODE_LINES_SHOWN + 2, 0).collapsible and block(0, OUTPUT_LINES_SHOWN + 2).collapsible


@contextlib.asynccontextmanager
async def resumed(make_interpreter, turns: int):
    """An app showing a resumed conversation of `turns` short turns: (app, pilot, transcript, messages)."""
    messages = []
    for i in range(turns):
        messages.append({"role": "user", "type": "message", "content": f"question {i}"})
        messages.append({"role": "assistant", "type": "message", "content": f"answer {i} " + "lorem ipsum " * 15})
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        transcript = chat(app).transcript
        await transcript.show_messages(messages)
        await pilot.pause(0.2)
        yield app, pilot, transcript, messages


async def test_page_up_brings_older_messages_of_a_resumed_conversation_a_page_at_a_time(make_interpreter) -> None:
    """At the top of what is mounted, PgUp mounts about a page of older messages above; what was read stays in view."""
    from oi_tui.widgets.transcript import EarlierMessages

    async with resumed(make_interpreter, 200) as (app, pilot, transcript, messages):
        hidden = transcript.query_one(EarlierMessages).count
        mounted = len(transcript.children) - 1
        assert hidden + mounted == 400
        for _ in range(10):  # to the top of the mounted part
            await pilot.press("pageup")
        await pilot.pause(0.1)
        assert transcript.scroll_y == 0

        for _ in range(6):
            was_on_top = transcript.children[1]  # the oldest mounted message, just under "show earlier"
            await pilot.press("pageup")
            await pilot.pause(0.1)
            left = transcript.query_one(EarlierMessages).count
            assert 0 < hidden - left <= SIZE[1], "about a page of messages, not all of them"
            hidden = left
            assert transcript.scroll_y == 0, "the new page is shown from its top: nothing jumps"
            assert transcript.region.overlaps(was_on_top.region), "what was read stays in view, right below"
            assert app.query_one("#prompt").has_focus

        texts = texts_of(transcript.children[1:])
        expected = [m["content"] for m in messages][-len(texts):]
        assert texts == expected, "in order, nothing lost or repeated"

        await pilot.press("ctrl+home")  # the start of the conversation: every older message
        await wait_for(pilot, lambda: not transcript.query(EarlierMessages))
        await pilot.pause(0.1)
        assert texts_of(transcript.children) == [m["content"] for m in messages]
        assert transcript.scroll_y == 0


async def test_show_earlier_counts_what_it_will_show(make_interpreter) -> None:
    """Images have no light form: "Show N earlier messages" counts only what revealing brings back."""
    from oi_tui.widgets.transcript import EarlierMessages

    messages = []
    for i in range(60):
        messages.append({"role": "user", "type": "message", "content": f"question {i}"})
        messages.append({"role": "computer", "type": "image", "format": "base64.png", "content": "iVBORw0KGgo="})
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        transcript = chat(app).transcript
        await transcript.show_messages(messages)
        await pilot.pause(0.1)
        placeholder = transcript.query_one(EarlierMessages)
        older = len(messages) - (len(transcript.children) - 1)
        promised, light_before = placeholder.count, len(texts_of(transcript.query("HistoryPage")))
        placeholder.post_message(EarlierMessages.RevealRequested())
        await wait_for(pilot, lambda: not transcript.query(EarlierMessages))
        assert len(texts_of(transcript.query("HistoryPage"))) - light_before == promised
        assert promised < older


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_an_empty_conversation_offers_no_scrolling(make_interpreter, size) -> None:
    """The first layout sees the pane at size 0 for a moment: the footer must follow the settled layout."""
    app = OiApp(make_interpreter())
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        assert chat(app).transcript.max_scroll_y == 0
        assert "PgUp/PgDn" not in footer_text(app)


async def test_page_keys_work_as_soon_as_the_pane_gets_too_small(make_interpreter, llm) -> None:
    """The conversation can stop fitting without growing: the approval card or a taller prompt shrinks the pane."""
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        transcript = chat(app).transcript
        for i in range(40):  # notes until the conversation no longer fits, then one fewer: it just fits
            last = await transcript.add_notice(f"line {i}")
            await pilot.pause()
            if transcript.max_scroll_y > 0:
                break
        await last.remove()
        await pilot.pause(0.2)
        assert transcript.max_scroll_y == 0 and "PgUp/PgDn" not in footer_text(app)
        await pilot.press(*"first line", "ctrl+j", *"second", "ctrl+j", *"third", "ctrl+j", *"fourth")
        await wait_for(pilot, lambda: transcript.max_scroll_y > 0)
        await pilot.pause(0.1)
        assert "PgUp/PgDn" in footer_text(app), "the footer follows the smaller pane"
        before = transcript.scroll_y
        await pilot.press("pageup")
        await pilot.pause(0.1)
        assert transcript.scroll_y < before, "PgUp works in the smaller pane"


async def test_a_page_of_older_messages_costs_one_layout(make_interpreter) -> None:
    """Textual sets each widget's virtual size after a layout; as a layout reactive, each new message and the grown
    transcript asked for a second layout of the whole screen (SizedByLayout)."""
    async with resumed(make_interpreter, 200) as (app, pilot, transcript, messages):
        transcript.scroll_home(animate=False, immediate=True)
        await wait_for(pilot, lambda: "Newest" in footer_text(app), timeout=5)  # its rebuild is not counted
        await pilot.pause(0.3)
        layouts: list[int] = []
        app.screen.screen_layout_refresh_signal.subscribe(transcript, lambda _screen: layouts.append(1),
                                                          immediate=True)
        for _ in range(3):
            layouts.clear()
            before = len(transcript.children)
            await pilot.press("pageup")
            await pilot.pause(0.3)
            assert len(transcript.children) == before + 1, "a page of older messages, as one widget"
            assert len(layouts) == 1, f"{len(layouts)} layouts of the screen for one page"


async def test_while_keys_come_the_footer_waits_and_end_works_at_once(make_interpreter, llm, monkeypatch) -> None:
    """PgUp held down: the footer's rebuild for "End Newest" (three layouts of the screen, ~50 ms) waits for the
    keys to pause, so it does not hold the next PgUp; End itself works at once."""
    llm.queue(Reply(text=long_reply(), chunk_size=200))
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        screen = chat(app)
        await send(pilot, "write a lot")
        await wait_for(pilot, lambda: screen.status == "idle" and not screen.transcript.query("StreamedText"))
        await pilot.pause(0.2)
        transcript = screen.transcript
        keys_coming = [True]
        monkeypatch.setattr(app, "typing", lambda: keys_coming[0])
        await pilot.press("pageup", "pageup")
        await pilot.pause(0.4)
        assert transcript.scroll_y < transcript.max_scroll_y
        assert "Newest" not in footer_text(app), "rebuilt while keys still came"
        keys_coming[0] = False
        await wait_for(pilot, lambda: "Newest" in footer_text(app), timeout=2)
        keys_coming[0] = True
        await pilot.press("end")
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y, "End works before the footer shows the change"
        await pilot.pause(0.3)
        assert "Newest" in footer_text(app), "the footer still waits for the pause"
        keys_coming[0] = False
        await wait_for(pilot, lambda: "Newest" not in footer_text(app), timeout=2)
