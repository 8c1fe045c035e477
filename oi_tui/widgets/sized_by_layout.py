"""Widgets whose virtual size is an outcome of layout, so that a change of it asks for no second layout."""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive


class SizedByLayout:
    """Mix in first, before the widget class.

    Textual sets each widget's `virtual_size` from every layout it does, and `virtual_size` is a layout reactive:
    each new widget, and each container that grew (the transcript), asked for a second layout of the whole screen
    right after the first (a page of older messages was laid out twice, ~15 ms each). For a widget that does not
    scroll its own content, the size it was just laid out at needs no further layout; for a scrolling one, a
    scrollbar that must appear or go has its own layout reactive (`show_vertical_scrollbar`).
    """

    virtual_size = Reactive(Size(0, 0), layout=False)
