"""The computer API on a real (virtual) X server: screen, mouse, keyboard, clipboard, OCR, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.xserver import LABEL_TEXT, SCREEN, TkWindow, XServer, pointer_location, xserver_available

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="session")
def xserver() -> Iterator[XServer]:
    reason = xserver_available()
    if reason:
        pytest.skip(reason)
    server = XServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def window(xserver: XServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TkWindow]:
    tk = TkWindow(xserver, tmp_path_factory.mktemp("tk"))
    try:
        yield tk
    finally:
        tk.close()


@pytest.fixture
def screen(xserver: XServer, window: TkWindow, monkeypatch: pytest.MonkeyPatch) -> TkWindow:
    """DISPLAY points at the virtual server, which shows the Tk window."""
    monkeypatch.setenv("DISPLAY", xserver.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    window.command("set ")
    return window


@pytest.fixture
def computer():
    from oi_core.computer import Computer

    return Computer()


def inside(point: tuple[int, int], rect: tuple[int, int, int, int]) -> bool:
    x, y = point
    return rect[0] <= x < rect[0] + rect[2] and rect[1] <= y < rect[1] + rect[3]


# ---------------------------------------------------------------- display


def test_view_returns_screenshot_with_the_text(screen: TkWindow, computer) -> None:
    import pytesseract

    image = computer.display.view()
    assert image.size == SCREEN
    assert "HELLO OITUI" in pytesseract.image_to_string(image, timeout=30).upper()
    assert repr(image) == f"<screenshot {SCREEN[0]}x{SCREEN[1]}>"
    assert computer.display.screenshot(quadrant=1).size == (SCREEN[0] // 2, SCREEN[1] // 2)


def test_view_without_vision_returns_the_screen_text(screen: TkWindow, computer) -> None:
    computer.display.vision = False
    text = computer.display.view()
    assert isinstance(text, str) and LABEL_TEXT in text.upper()


def test_view_follows_the_interpreter_model(screen: TkWindow, make_interpreter) -> None:
    interp = make_interpreter()
    interp.llm.supports_vision = False
    assert LABEL_TEXT in interp.computer.display.view().upper()
    interp.llm.supports_vision = True
    assert interp.computer.display.view().size == SCREEN
    interp.computer.emit_images = False
    assert isinstance(interp.computer.display.view(), str)


def test_size_and_center(screen: TkWindow, computer) -> None:
    display = computer.display
    assert display.size == SCREEN and display.size() == SCREEN
    assert (display.width, display.height) == SCREEN
    assert display.center() == (SCREEN[0] // 2, SCREEN[1] // 2)


# ---------------------------------------------------------------- mouse


def test_click_on_text_moves_the_pointer_onto_it(screen: TkWindow, computer) -> None:
    computer.mouse.move(x=5, y=700)
    where = computer.mouse.click("HELLO")
    pointer = pointer_location(os.environ["DISPLAY"])
    assert pointer == where
    assert inside(pointer, screen.label)
    assert pointer[0] < screen.label[0] + screen.label[2] // 2  # HELLO is the left word


def test_move_to_a_phrase_any_case(screen: TkWindow, computer) -> None:
    where = computer.mouse.move("hello oitui")
    pointer = pointer_location(os.environ["DISPLAY"])
    assert pointer == where
    center = TkWindow.center(screen.label)
    assert abs(pointer[0] - center[0]) < 60 and abs(pointer[1] - center[1]) < 30
    assert computer.mouse.position() == pointer


def test_click_at_coordinates_and_scroll(screen: TkWindow, computer) -> None:
    computer.mouse.click(x=300, y=650)
    assert pointer_location(os.environ["DISPLAY"]) == (300, 650)
    computer.mouse.move(x=410, y=610)
    assert pointer_location(os.environ["DISPLAY"]) == (410, 610)
    computer.mouse.scroll(-3)
    computer.mouse.scroll(2, x=420, y=620)
    assert pointer_location(os.environ["DISPLAY"]) == (420, 620)


def test_text_not_on_screen_lists_what_was_read(screen: TkWindow, computer) -> None:
    from oi_core.computer.errors import TextNotFoundError

    with pytest.raises(TextNotFoundError) as caught:
        computer.mouse.click("Submit order")
    message = str(caught.value)
    assert "Could not find 'Submit order'" in message and LABEL_TEXT in message.upper()


def test_text_found_several_times_lists_the_matches(screen: TkWindow, computer) -> None:
    from oi_core.computer.errors import AmbiguousTextError

    screen.command("set HELLO")
    with pytest.raises(AmbiguousTextError) as caught:
        computer.mouse.click("hello")
    message = str(caught.value)
    assert "appears 2 times" in message and "index=" in message
    computer.mouse.move("hello", index=1)
    assert inside(pointer_location(os.environ["DISPLAY"]), screen.entry)


def test_icon_needs_a_vision_model(screen: TkWindow, computer) -> None:
    from oi_core.computer.errors import NeedsVisionError

    with pytest.raises(NeedsVisionError, match="needs a vision model"):
        computer.mouse.click(icon="gear icon")


# ---------------------------------------------------------------- keyboard


def focus_entry(window: TkWindow, computer) -> None:
    computer.mouse.click(x=window.entry[0] + 10, y=window.entry[1] + window.entry[3] // 2)
    window.command("focus")


def test_keyboard_types_into_the_focused_entry(screen: TkWindow, computer) -> None:
    focus_entry(screen, computer)
    computer.keyboard.write("Hello, World! 42 café")
    assert screen.entry_text("Hello, World! 42 café") == "Hello, World! 42 café"
    computer.keyboard.press("backspace", presses=5)
    assert screen.entry_text("Hello, World! 42") == "Hello, World! 42"
    computer.keyboard.press("home")
    computer.keyboard.write(">")
    assert screen.entry_text(">Hello, World! 42") == ">Hello, World! 42"


def test_hotkey_selects_and_deletes(screen: TkWindow, computer) -> None:
    focus_entry(screen, computer)
    computer.keyboard.write("one two")
    assert screen.entry_text("one two") == "one two"
    computer.keyboard.hotkey("/", "control")  # Tk's select-all; the modifier may come in any order
    computer.keyboard.press("backspace")
    assert screen.entry_text("") == ""
    computer.keyboard.write("abc")
    computer.keyboard.hotkey(["ctrl", "/"])
    computer.keyboard.write("Z")
    assert screen.entry_text("Z") == "Z"
    from oi_core.computer.errors import ComputerError

    with pytest.raises(ComputerError, match="not a key name"):
        computer.keyboard.press("entr")


# ---------------------------------------------------------------- clipboard and selection


def test_clipboard_round_trip(screen: TkWindow, computer) -> None:
    computer.clipboard.copy("clipboard ✓ round trip")
    assert computer.clipboard.view() == "clipboard ✓ round trip"
    computer.clipboard.copy("second\nline")
    assert computer.clipboard.view() == "second\nline"


def test_paste_into_the_entry(screen: TkWindow, computer) -> None:
    focus_entry(screen, computer)
    computer.clipboard.copy("pasted text")
    computer.clipboard.paste()
    assert screen.entry_text("pasted text") == "pasted text"


def test_selected_text_keeps_the_clipboard(screen: TkWindow, computer) -> None:
    computer.clipboard.copy("keep me")
    screen.command("set the selected words")
    screen.command("select")
    assert computer.os.get_selected_text() == "the selected words"
    assert computer.clipboard.view() == "keep me"


# ---------------------------------------------------------------- clear failures


def _one_sentence(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


def test_no_display_is_one_clear_sentence(computer, monkeypatch: pytest.MonkeyPatch) -> None:
    from oi_core.computer.errors import NoDisplayError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    calls = [
        computer.display.view,
        lambda: computer.display.size,
        lambda: computer.mouse.click(x=1, y=1),
        lambda: computer.mouse.click("HELLO"),
        lambda: computer.keyboard.write("x"),
        lambda: computer.keyboard.hotkey("ctrl", "c"),
        computer.clipboard.view,
        computer.os.get_selected_text,
    ]
    for call in calls:
        with pytest.raises(NoDisplayError) as caught:
            call()
        _one_sentence(str(caught.value))
        assert "DISPLAY is not set" in str(caught.value)


def test_unreachable_display_fails_fast(computer, monkeypatch: pytest.MonkeyPatch) -> None:
    from oi_core.computer.errors import NoDisplayError

    monkeypatch.setenv("DISPLAY", ":4093")
    started = time.monotonic()
    with pytest.raises(NoDisplayError, match="nothing answers at DISPLAY=:4093"):
        computer.mouse.move(x=1, y=1)
    assert time.monotonic() - started < 5


def test_missing_tesseract_is_one_clear_sentence(screen: TkWindow, computer, monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    from oi_core.computer.errors import TesseractMissingError

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/bin/tesseract")
    with pytest.raises(TesseractMissingError) as caught:
        computer.mouse.click("HELLO")
    _one_sentence(str(caught.value))
    assert "Tesseract" in str(caught.value) and "install" in str(caught.value)
    computer.display.vision = False
    with pytest.raises(TesseractMissingError):
        computer.display.view()
    computer.display.vision = True
    assert computer.display.view().size == SCREEN  # screenshots do not need OCR


def test_tesseract_not_on_path(screen: TkWindow, computer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pytesseract

    from oi_core.computer.errors import TesseractMissingError

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TesseractMissingError, match="was not found"):
        computer.mouse.move("HELLO")


@pytest.mark.skipif(sys.platform == "darwin", reason="these parts work on macOS")
def test_macos_parts_say_not_available(computer) -> None:
    from oi_core.computer.errors import NotAvailableOnThisOSError

    calls = [
        lambda: computer.mail.get(number=3),
        lambda: computer.mail.send("a@example.com", "Subject", "Body"),
        computer.mail.unread_count,
        lambda: computer.sms.send("2068675309", "hi"),
        lambda: computer.contacts.get_phone_number("John Doe"),
        lambda: computer.calendar.get_events(),
        lambda: computer.calendar.create_event(title="x"),
    ]
    for call in calls:
        with pytest.raises(NotAvailableOnThisOSError, match="not available on this OS") as caught:
            call()
        _one_sentence(str(caught.value))


# ---------------------------------------------------------------- what the model is told, and the kernel


def test_system_message_documents_the_api(llm, make_interpreter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    interp = make_interpreter(os=True)
    llm.queue("Done.")
    interp.chat("hi", display=False)
    system = llm.requests[-1]["messages"][0]["content"]
    assert "computer.display.view()" in system and "computer.mouse.click" in system
    assert "NOT AVAILABLE HERE" in system and "DISPLAY is not set" in system
    if sys.platform != "darwin":
        assert "only work on macOS" in system


def test_api_docs_follow_vision_and_display(screen: TkWindow, make_interpreter) -> None:
    from oi_core.computer.api_docs import describe_computer_api

    interp = make_interpreter()
    interp.llm.supports_vision = True
    text = describe_computer_api(interp.computer)
    assert "NOT AVAILABLE HERE" not in text and "screenshot" in text
    interp.llm.supports_vision = False
    assert "read by OCR" in describe_computer_api(interp.computer)


def test_bootstrap_code_defines_computer_in_a_fresh_python(screen: TkWindow, tmp_path: Path) -> None:
    from oi_core.computer.kernel_bootstrap import bootstrap_code

    code = bootstrap_code(vision=False) + "print(tuple(computer.display.size)); print(computer.display.view())\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{SCREEN}" in result.stdout and LABEL_TEXT in result.stdout.upper()


def test_view_in_a_kernel_emits_one_png(screen: TkWindow) -> None:
    """Inside an IPython kernel, display.view() shows the screenshot once, as image/png output."""
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import start_new_kernel

    from oi_core.computer.kernel_bootstrap import bootstrap_code

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)

    def run(code: str) -> list[tuple[str, dict]]:
        msg_id = client.execute(code)
        outputs = []
        while True:
            message = client.get_iopub_msg(timeout=60)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind in ("display_data", "execute_result", "stream", "error"):
                outputs.append((kind, content))
            if kind == "status" and content["execution_state"] == "idle":
                return outputs

    try:
        assert run(bootstrap_code(vision=True)) == []
        outputs = run("computer.display.view()")
        images = [c["data"]["image/png"] for k, c in outputs if "data" in c and "image/png" in c["data"]]
        assert len(images) == 1, outputs
        assert all("image/jpeg" not in c.get("data", {}) for _, c in outputs)
        outputs = run("shot = computer.display.view()\nprint(shot.size)")
        assert [k for k, _ in outputs] == ["display_data", "stream"]
        assert "(1280, 800)" in outputs[1][1]["text"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# ---------------------------------------------------------------- a display that goes away and comes back


def test_display_that_restarts_is_reconnected(monkeypatch: pytest.MonkeyPatch, computer) -> None:
    """pyautogui's X connection outlives its server: the next call after a restart connects again."""
    from oi_core.computer.errors import NoDisplayError

    reason = xserver_available()
    if reason:
        pytest.skip(reason)
    server = XServer()
    try:
        monkeypatch.setenv("DISPLAY", server.display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        computer.mouse.move(x=100, y=120)
        assert pointer_location(server.display) == (100, 120)
        server.close()
        with pytest.raises(NoDisplayError) as caught:  # gone: one sentence, fast
            computer.mouse.move(x=5, y=5)
        _one_sentence(str(caught.value))
        assert "not subscriptable" not in str(caught.value)
        server.restart()
        computer.mouse.move(x=200, y=210)  # back: reconnects by itself
        assert pointer_location(server.display) == (200, 210)
        assert computer.mouse.position() == (200, 210)
        computer.keyboard.press("shift")
        assert computer.display.size == SCREEN
    finally:
        server.close()


def test_display_changed_in_a_long_lived_process(monkeypatch: pytest.MonkeyPatch, computer) -> None:
    reason = xserver_available()
    if reason:
        pytest.skip(reason)
    first, second = XServer(), XServer()
    try:
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        for server, point in ((first, (30, 40)), (second, (50, 60)), (first, (70, 80))):
            monkeypatch.setenv("DISPLAY", server.display)
            computer.mouse.move(x=point[0], y=point[1])
            assert pointer_location(server.display) == point
    finally:
        first.close()
        second.close()
