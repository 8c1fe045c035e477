"""Screens of oi-tui, one per module, each with its own .tcss file."""
