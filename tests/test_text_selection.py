"""A selection in the widgets that paint their own lines: what is copied, and what is drawn selected."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.containers import VerticalScroll
from textual.strip import Strip

from oi_tui.widgets.streamed_text import StreamedText
from oi_tui.widgets.text_selection import highlight_span

SELECTED = Style(bgcolor="red")


def selected_text(strip: Strip) -> str:
    return "".join(text for text, style, _ in strip if style and style.bgcolor == SELECTED.bgcolor)


def test_a_span_counts_characters_and_draws_their_cells() -> None:
    """Selection offsets count characters; a wide character takes two cells, and is drawn whole."""
    strip = Strip([Segment("日本語", Style(bold=True)), Segment("abc")])
    shown = highlight_span(strip, (1, 4), SELECTED)
    assert selected_text(shown) == "本語a"
    assert shown.text == strip.text and shown.cell_length == strip.cell_length
    assert all(style.bold for text, style, _ in shown if text in ("日", "本語")), "the row's own style stays"
    assert selected_text(highlight_span(strip, (4, -1), SELECTED)) == "bc", "an end of -1: to the row's end"


async def test_text_still_being_written_can_be_selected_and_copied() -> None:
    text = "first line of the reply\nsecond line, still being written"

    class Host(App[None]):
        def compose(self):
            with VerticalScroll():
                yield StreamedText(text)

    app = Host()
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        streamed = app.query_one(StreamedText)
        await pilot.mouse_down(streamed, offset=(6, 0))
        await pilot.hover(streamed, offset=(5, 1))
        await pilot.mouse_up(streamed, offset=(5, 1))
        await pilot.pause()
        assert app.screen.get_selected_text() == "line of the reply\nsecond"
        selection = app.screen.get_component_rich_style("screen--selection").bgcolor
        row = streamed.render_line(0)
        assert "".join(t for t, style, _ in row if style and style.bgcolor == selection).startswith("line of")
