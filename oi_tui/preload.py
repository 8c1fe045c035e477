"""What the first frame goes without, loaded in a worker thread right after it so that first use does not wait.

The launch imports only what the first frame shows (measured against a bare Textual app by
benchmarks/bench_e2e.py); the rest of the app's modules come here, off the UI thread.
"""

from __future__ import annotations

import importlib

#: Our modules the first frame does not need (~11 ms of imports): the reply and code-block widgets, the palette's
#: entries, the confirm dialog, the core's approval machinery with the LMC conversion under it, the calls behind
#: the navigator and undo, and the safety checks' types.
LATER_MODULES = (
    "oi_tui.widgets.chat_messages",
    "oi_tui.widgets.code_block",
    "oi_tui.widgets.history_page",
    "oi_tui.commands",
    "oi_tui.screens.confirm",
    "oi_core.approval",
    "oi_core.server.calls",
    "oi_core.safety.types",
)

#: Pygments compiles a lexer's regexes when it is first used (Python's: ~40 ms on the UI thread): the first code
#: block in each of these languages, in a reply or scrolled into view in a resumed conversation, held the screen.
PRELOADED_LEXERS = ("python", "bash", "javascript")


def preload_after_first_frame() -> None:
    """Blocking (a worker thread, after the first frame): import what the first reply, dialog and turn need."""
    for name in LATER_MODULES:
        importlib.import_module(name)
    import rich.syntax  # noqa: F401  (code blocks)
    from pygments.lexers import get_lexer_by_name
    from textual.widgets import Markdown  # noqa: F401

    for name in PRELOADED_LEXERS:
        get_lexer_by_name(name)
