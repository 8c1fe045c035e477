"""Python source that makes `computer` available to code the model runs (when import_computer_api is on)."""

from __future__ import annotations

from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the oi_core package


def bootstrap_code(vision: bool | None = None, emit_images: bool = True) -> str:
    """Source to run once in a fresh Python kernel: defines `computer`, a standalone oi_core Computer.

    `vision` tells display.view() whether to return screenshots (True) or the screen's text (False);
    None leaves screenshots on. `emit_images=False` also makes view() return text.
    """
    return (
        "def _oi_make_computer():\n"
        "    try:\n"
        "        from oi_core.computer import Computer\n"
        "    except ImportError:\n"
        "        import sys\n"
        f"        sys.path.append({_ROOT!r})\n"
        "        from oi_core.computer import Computer\n"
        "    made = Computer()\n"
        f"    made.emit_images = {bool(emit_images)!r}\n"
        f"    made.display.vision = {vision!r}\n"
        "    return made\n"
        "computer = _oi_make_computer()\n"
        "del _oi_make_computer\n"
    )
