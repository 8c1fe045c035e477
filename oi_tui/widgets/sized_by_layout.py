"""Mixins that spare the screen layouts a widget does not need (each is a layout of the whole screen)."""

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

    Nor a repaint: that layout has painted whatever moved, a widget whose size changed is repainted by Textual
    anyway, and the scrollbars are refreshed with the new size. Each time the transcript grew, its repaint drew
    the whole pane again a frame later (~10 KB to the terminal), after every flush and every page revealed.
    """

    virtual_size = Reactive(Size(0, 0), layout=False, repaint=False)


class LaidOutByMount:
    """Mix in first, before the widget class.

    A widget whose content is set before it is mounted (a Markdown block, built from the parsed text) asks for a
    layout of its own. Textual sends that request when the widget first goes idle, which is only after the layout
    its mount caused: each flush of a streaming reply laid the whole screen out a second time for its new blocks
    (~10 ms). A widget with no parent yet has nothing to lay out: its mount lays it out, so the request is dropped.
    """

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if layout and self.parent is None:
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
