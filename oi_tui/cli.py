"""TEMPORARY entry point until the full command line (issue 6) lands."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from oi_core import OpenInterpreter
    from oi_tui.app import OiApp

    interpreter = OpenInterpreter()
    OiApp(interpreter).run()
    return 0
