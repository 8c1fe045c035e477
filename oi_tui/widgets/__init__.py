"""Widgets of the chat screen; each module keeps its messages next to the widget that posts them."""
