"""What the model is told about the computer API (in OS mode or with import_computer_api on)."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from .kernel_bootstrap import bootstrap_code

__all__ = ["bootstrap_code", "describe_computer_api"]


def _vision(computer: Any) -> bool:
    from .display import uses_vision

    display = getattr(computer, "__dict__", {}).get("_parts", {}).get("display")
    return uses_vision(computer, display.vision if display is not None else None)


def describe_computer_api(computer: Any) -> str:
    """The computer API as the model should use it here, saying plainly which parts do not work on this system."""
    from .display import IS_MAC, IS_WINDOWS, require_display
    from .errors import ComputerError
    from .ocr import tesseract_available

    try:
        require_display()
        screen_problem = ""
    except ComputerError as exc:
        screen_problem = exc.message
    ocr = tesseract_available()
    vision = _vision(computer)
    clipboard_ok = IS_MAC or IS_WINDOWS or bool(shutil.which("xclip") or shutil.which("xsel") or shutil.which("wl-copy"))

    lines = [
        "# The computer API",
        "In Python code you run, a `computer` object is already defined (do not import it). It controls this "
        "computer's screen, mouse, keyboard and clipboard. Prefer plain code and shell commands when they do the job; "
        "use the screen when you must operate an app's interface.",
    ]
    if not getattr(computer, "import_computer_api", False):
        lines.append("If `computer` is not defined, run: `from oi_core.computer import Computer; computer = Computer()`.")
    lines.append("")
    if screen_problem:
        lines += [
            f"NOT AVAILABLE HERE: {screen_problem} So computer.display, computer.mouse, computer.keyboard, "
            "clipboard copy/paste keystrokes and computer.os.get_selected_text() will fail; do not call them.",
            "",
        ]
    if vision:
        view = ("computer.display.view()  # a screenshot, shown to you as an image (quadrant=1..4 zooms into a quarter; "
                "screen=N picks a monitor)")
    else:
        view = ("computer.display.view()  # the text on the screen, read by OCR (you cannot see images); "
                "print() it")
    lines += [
        "```python",
        view,
        "computer.display.size          # (width, height) in screen coordinates; also .width, .height",
        "x, y = computer.display.center()",
        "computer.keyboard.write(\"hello\")           # type into whatever has focus",
        "computer.keyboard.press(\"enter\")           # also press(\"tab\", presses=3)",
        f"computer.keyboard.hotkey(\"{'command' if IS_MAC else 'ctrl'}\", \"c\")",
        "computer.mouse.move(x=100, y=100); computer.mouse.click(x=100, y=100)  # button=\"right\", clicks=2",
    ]
    if ocr:
        lines.append(
            "computer.mouse.click(\"Visible text\")     # finds the text on screen (OCR) and clicks its centre; "
            "mouse.move(\"text\") too; if it appears several times, pass index=N"
        )
    lines += [
        "computer.mouse.scroll(-10)     # negative scrolls down, positive up",
        "computer.mouse.position()",
        "computer.clipboard.view(); computer.clipboard.copy(\"text\"); computer.clipboard.paste()",
        "computer.os.get_selected_text()",
    ]
    if IS_MAC:
        lines += [
            "computer.mail.get(number=10, unread=True); computer.mail.send(to, subject, body, [attachment paths])",
            "computer.mail.unread_count(); computer.sms.send(\"2068675309\", \"Hello\")",
            "computer.contacts.get_phone_number(\"John Doe\"); computer.contacts.get_email_address(\"John Doe\")",
            "computer.calendar.get_events(start_date=datetime, end_date=datetime)",
            "computer.calendar.create_event(title=..., start_date=datetime, end_date=datetime, location=..., notes=..., calendar=...)",
            "computer.calendar.delete_event(event_title=..., start_date=datetime, calendar=...)",
        ]
    lines.append("```")
    notes = []
    if not ocr:
        notes.append(
            "Tesseract OCR is not installed here: clicking on text (mouse.click(\"text\"))"
            + ("" if vision else " and reading the screen with display.view()")
            + " will fail; use x=, y= coordinates."
        )
    notes.append("mouse.click(icon=...) is not available: find things by their visible text or by coordinates.")
    if not clipboard_ok:
        notes.append("No clipboard program (xclip/xsel) is installed: the clipboard parts will fail.")
    if not IS_MAC:
        system = "Windows" if IS_WINDOWS else ("Linux" if sys.platform.startswith("linux") else sys.platform)
        notes.append(
            f"computer.mail, computer.sms, computer.contacts and computer.calendar only work on macOS; this is {system}, "
            "so do not use them."
        )
    notes.append("Each part raises an error with one sentence saying what is missing; read it rather than retrying blindly.")
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)
