"""Deeply nested lists in replies: every item and everything after the list is shown."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from textual.app import App
from textual.widgets import Markdown

from oi_tui.markdown_depth import MAX_LIST_DEPTH, ListDepthLimiter, limit_list_depth, reply_parser
from tests.llm_server import Reply


def nested(levels: int, step: int = 2, marker: str = "-") -> str:
    items = "\n".join(" " * (step * i) + f"{marker} level {i + 1}" for i in range(levels))
    return f"Intro line.\n\n{items}\n\nAfter the list."


def list_depth(text: str) -> int:
    depth = deepest = 0
    for token in MarkdownIt("gfm-like", {"maxNesting": 1000}).parse(text):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            deepest = max(deepest, depth)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
    return deepest


def streamed(text: str, cuts: list[int]) -> str:
    limiter = ListDepthLimiter()
    points = sorted({c for c in cuts if 0 < c < len(text)}) + [len(text)]
    out, previous = [], 0
    for point in points:
        out.append(limiter.feed(text[previous:point]))
        previous = point
    return "".join(out) + limiter.close()


def test_deep_items_move_up_to_the_limit_and_keep_their_text() -> None:
    for text in (nested(12), nested(20, step=4), nested(11, step=3, marker="1.")):
        limited = limit_list_depth(text)
        assert list_depth(limited) == MAX_LIST_DEPTH
        for level in range(1, 13):
            if f"level {level}\n" in text + "\n":
                assert f"level {level}" in limited
        assert limited.endswith("After the list.")


def test_shallow_lists_and_code_are_untouched() -> None:
    text = nested(5) + "\n\n```python\n" + "".join(" " * (2 * i) + "- not a list\n" for i in range(12)) + "```\n"
    assert limit_list_depth(text) == text


def test_text_under_a_moved_item_moves_with_it() -> None:
    deep = "".join(" " * (2 * i) + f"- item {i + 1}\n" for i in range(10))
    text = deep + " " * 20 + "continued under item 10\n"
    limited = limit_list_depth(text)
    tokens = [t for t in MarkdownIt("gfm-like").parse(limited) if t.type == "inline"]
    assert [t.content for t in tokens][-1] == "item 10\ncontinued under item 10"


documents = st.builds(
    lambda levels, step, marker, extra: nested(levels, step, marker) + extra,
    st.integers(1, 16), st.sampled_from([2, 3, 4]), st.sampled_from(["-", "*", "1.", "2)"]),
    st.sampled_from(["", "\n  continued", "\n\n```\n      - code\n```\n", "\n\t- tab"]),
)


@settings(max_examples=300, deadline=None)
@given(documents, st.lists(st.integers(0, 400), max_size=50))
def test_any_chunking_gives_the_same_text(text: str, cuts: list[int]) -> None:
    assert streamed(text, cuts) == limit_list_depth(text)


async def test_textual_shows_everything_with_the_helpers() -> None:
    class Viewer(App):
        def compose(self):
            yield Markdown(limit_list_depth(nested(12)), parser_factory=reply_parser)

    app = Viewer()
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause(0.3)
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "level 12" in shown and "After the list." in shown


async def test_a_deeply_nested_reply_is_shown_in_full(make_interpreter, llm, pinned_look, no_kernel_warm_up) -> None:
    from oi_tui.app import OiApp
    from oi_tui.widgets.chat_messages import AssistantMessage
    from tests.tui_support import chat, send, wait_for

    llm.queue(Reply(text=nested(12), chunk_size=5))
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 60)) as pilot:
        await send(pilot, "nest")
        await wait_for(pilot, lambda: chat(app).status == "idle" and app.query(AssistantMessage)
                       and not app.query_one(AssistantMessage).streaming)
        await pilot.pause(0.3)
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "level 12" in shown and "After the list." in shown
