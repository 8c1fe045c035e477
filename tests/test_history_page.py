"""Older messages behind "show earlier" come back a page per widget, and look as one widget per message did."""

from __future__ import annotations

from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Static

from oi_tui.widgets.history_page import HistoryLines, HistoryPage

MESSAGES = [
    ("user", "How do I list the files here, sorted by size?"),
    ("assistant", "Use ls with -S. " + "Here is a longer answer that wraps over more than one row of the page. " * 3),
    ("computer", "total 12\n-rw-r--r-- 1 me me 4096 notes.txt\n-rw-r--r-- 1 me me 12 a.py"),
    ("user", "and in reverse? " * 12),
]


class Host(App[None]):
    """The page beside what it replaced: one Static per message, styled as the transcript styled them."""

    CSS = """
    .message { margin: 1 0 0 0; padding: 0 1; color: $text-muted; }
    .message.-user { margin-left: 8; background: $primary 8%; }
    """

    def compose(self):
        with VerticalScroll(id="page"):
            yield HistoryPage(MESSAGES)
        with VerticalScroll(id="reference"):
            for role, text in MESSAGES:
                yield Static(text, markup=False, classes=f"message -{role}")


def reference_rows(app: Host) -> list[tuple[int, list]]:
    """The reference's rows as (indent, painted row); a blank row (-1, []) between two messages."""
    rows: list[tuple[int, list]] = []
    for index, widget in enumerate(app.query_one("#reference").query(Static)):
        if index:
            rows.append((-1, []))
        indent = widget.region.x - app.query_one("#reference").region.x
        rows.extend((indent, painted(strip)) for strip in widget.render_lines(widget.region.reset_offset))
    return rows


def painted(strip) -> list[tuple[str, object, object]]:
    """What is seen, cell by cell: the character, its colour (none for a blank) and its background."""
    return [(char, None if char == " " else style.color, style.bgcolor)
            for text, style, _control in strip for char in text]


def assert_looks_the_same(app: Host) -> None:
    page = app.query_one(HistoryPage)
    strips = page.render_lines(page.region.reset_offset)
    expected = reference_rows(app)
    assert page.region.height == len(expected) == len(strips) > len(MESSAGES) * 2
    for row, ((indent, reference), strip) in enumerate(zip(expected, strips)):
        if indent < 0:
            assert not strip.text.strip(), f"row {row}: a blank row between two messages"
            continue
        assert strip.text[:indent] == " " * indent, f"row {row}: indented"
        assert painted(strip.crop(indent)) == reference, f"row {row}"


async def test_a_page_looks_as_one_widget_per_message_did() -> None:
    app = Host()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        assert_looks_the_same(app)
        app.theme = "textual-light"  # the user's background follows the theme
        await pilot.pause()
        assert_looks_the_same(app)
        await pilot.resize_terminal(70, 60)
        await pilot.pause()
        assert_looks_the_same(app)


async def test_a_page_is_rendered_once_per_width_and_theme(monkeypatch) -> None:
    renders: list[int] = []
    real = HistoryLines.render_lines

    def counted(self, width):
        renders.append(width)
        return real(self, width)

    monkeypatch.setattr(HistoryLines, "render_lines", counted)
    app = Host()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        first = len(renders)
        assert first == len(set(renders)), renders
        for _ in range(3):
            app.query_one(HistoryPage).refresh()
            await pilot.pause()
        assert len(renders) == first, renders
        app.theme = "textual-light"
        await pilot.pause()
        assert len(renders) == first + 1, "a new theme: a new user background"


async def test_text_in_a_page_can_be_selected_and_copied() -> None:
    """A drag across a page selects its text as shown, and the selection is drawn (one widget per message was a
    Static, selectable; the page must stay so)."""
    app = Host()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        page = app.query_one(HistoryPage)
        await pilot.mouse_down(page, offset=(9, 0))  # "How" in the user's message (after the indent and padding)
        await pilot.hover(page, offset=(20, 2))  # into the assistant's answer, two rows down
        await pilot.mouse_up(page, offset=(20, 2))
        await pilot.pause()
        selected = app.screen.get_selected_text()
        assert selected == "How do I list the files here, sorted by size?\n\nUse ls with -S. Here", \
            "the text as shown, without the padding or the indent around it"
        row = page.render_lines(page.region.reset_offset)[0]
        highlighted = [text for text, style, _ in row if style and style.bgcolor
                       and style.bgcolor != page.user_style().bgcolor and text.strip()]
        assert "".join(highlighted).startswith("How do I"), "the selection is drawn"


async def test_the_rows_a_message_takes_are_known_before_layout() -> None:
    """PgUp brings in about a page of older messages, sized before any layout: the estimate wraps at the width
    the page draws at (a user's indent included, narrower on a narrow page), so text that folds exactly comes
    out at the rows it is drawn in, and wrapping at words only ever adds rows."""
    app = Host()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        page = app.query_one(HistoryPage)
        for width in (8, 12, 40, 72):
            for role in ("user", "assistant", "computer"):
                for text in ("x" * 5, "y" * 130, "z" * 30 + "\n" + "w" * 75, "short words " * 20):
                    page.messages = [(role, text)]
                    drawn = 1 + len(page.rendered_lines.render_lines(width))  # and the blank line above it
                    estimate = HistoryPage.estimated_rows(role, text, width)
                    if " " in text:
                        assert estimate <= drawn, (width, role, text)
                    else:
                        assert estimate == drawn, (width, role, text)
