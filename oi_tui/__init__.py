"""oi-tui: the full-screen Textual front end of oi_core."""

__version__ = "0.1.0"
