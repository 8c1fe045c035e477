"""Finished Markdown (a long reply's sealed parts, older replies) is rendered by Rich once per width, and looks the
same as Rich's Markdown in a Static."""

from __future__ import annotations

import pytest
from rich.markdown import Markdown as RichMarkdown
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Static

from oi_tui.widgets.chat_messages import LightReply, ReplyPart

TEXT = "\n\n".join(
    [f"## Part {i}\n\nSome *emphasis*, `code` and a [link](https://example.com) in paragraph {i}. " + "words " * 40
     for i in range(30)]
    + ["- one\n- two\n  - nested", "| a | b |\n|---|---|\n| 1 | 2 |", "```python\nprint('hi')\n```"]
)


class Host(App[None]):
    CSS = "Static { padding: 0 1; margin: 1 0 0 0; }"

    def __init__(self, *widgets: Static) -> None:
        super().__init__()
        self._widgets = widgets

    def compose(self):
        with VerticalScroll():
            yield from self._widgets


def painted(widget: Static) -> list[str]:
    """What the widget shows, row by row, with each row's styles (the colours a theme gives included)."""
    return [
        "".join(f"{segment.text}\x00{segment.style}" for segment in strip)
        for strip in widget.render_lines(widget.region.reset_offset)
    ]


@pytest.mark.parametrize("kind", [ReplyPart, LightReply])
async def test_it_looks_as_rich_markdown_in_a_static_does(kind) -> None:
    ours, reference = kind(TEXT), Static(RichMarkdown(TEXT))
    app = Host(ours, reference)
    async with app.run_test(size=(90, 400)) as pilot:
        await pilot.pause()
        assert ours.region.height == reference.region.height > 60
        assert painted(ours) == painted(reference)
        app.theme = "textual-light"  # a new theme: new base colours on the same lines
        await pilot.pause()
        assert painted(ours) == painted(reference)
        await pilot.resize_terminal(50, 400)  # a new width: rendered again at it
        await pilot.pause()
        assert ours.region.height == reference.region.height
        assert painted(ours) == painted(reference)


async def test_it_is_rendered_once_per_width(monkeypatch) -> None:
    """A Static rendered Rich's Markdown to measure it, and again to paint it after each refresh."""
    renders: list[int] = []
    real = RichMarkdown.__rich_console__

    def counted(self, console, options):
        renders.append(options.max_width)
        yield from real(self, console, options)

    monkeypatch.setattr(RichMarkdown, "__rich_console__", counted)
    part = ReplyPart(TEXT)
    app = Host(part)
    async with app.run_test(size=(90, 60)) as pilot:
        await pilot.pause()
        assert len(renders) == len(set(renders)), f"rendered twice at one width: {renders}"
        first = len(renders)  # at 88 columns, then 86 once the scrollbar came
        for _ in range(3):
            part.refresh()
            await pilot.pause()
        app.theme = "textual-light"
        await pilot.pause()
        assert len(renders) == first, renders
        await pilot.resize_terminal(60, 60)
        await pilot.pause()
        assert len(renders) == first + 1, renders


async def test_a_finished_part_of_a_reply_can_be_selected_and_copied() -> None:
    part = ReplyPart("Some words to copy here.\n\nA second paragraph.")
    app = Host(part)
    async with app.run_test(size=(90, 30)) as pilot:
        await pilot.pause()
        await pilot.mouse_down(part, offset=(1, 0))  # inside the padding of one column
        await pilot.hover(part, offset=(8, 2))
        await pilot.mouse_up(part, offset=(8, 2))
        await pilot.pause()
        assert app.screen.get_selected_text() == "Some words to copy here.\n\nA second"
