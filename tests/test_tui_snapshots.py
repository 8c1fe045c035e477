"""Snapshots of each chat-screen state (stored under snapshots/test_tui_snapshots/).

States are produced by publishing core events on the bus, so every frame is deterministic:
fixed size, fixed theme, no cursor blink, no animations, a forced image renderer.
"""

from __future__ import annotations


import pytest
from textual.widgets import Input, TextArea

from oi_core.events import ApprovalRequested, ChunkEmitted, ErrorRaised, StatusChanged
from oi_tui.app import OiApp


pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (100, 30)


async def settle(pilot) -> None:
    app = pilot.app
    app.animation_level = "none"
    for widget in app.query(TextArea):
        widget.cursor_blink = False
    for widget in app.query(Input):
        widget.cursor_blink = False
    for _ in range(5):
        await pilot.pause(0.05)
    app.screen.flush_buffers()
    await pilot.pause()
    transcript = app.screen.transcript  # a reply renders block by block: wait until its height has settled
    seen, same = None, 0
    for _ in range(60):
        await pilot.pause(0.05)
        now = (transcript.virtual_size, transcript.scroll_y, transcript.max_scroll_y)
        same = same + 1 if now == seen else 0
        seen = now
        if same >= 4:
            break


def chunk(**fields):
    return ChunkEmitted(fields)


def ask_for_approval(bus) -> None:
    """The streamed reply with its code block, now waiting for Run / Edit / Skip."""
    publish_reply_with_code(bus)
    bus.publish(StatusChanged("awaiting_approval", "shell"))
    bus.publish(ApprovalRequested("approval-1", "shell", "ls ~ | wc -l\necho done"))


def publish_reply_with_code(bus) -> None:
    bus.publish(StatusChanged("thinking", "openai/test-model"))
    bus.publish(chunk(role="assistant", type="message", start=True))
    for piece in ["I'll count ", "the files in ", "your **home** folder:\n\n", "- list them\n", "- count lines"]:
        bus.publish(chunk(role="assistant", type="message", content=piece))
    bus.publish(chunk(role="assistant", type="message", end=True))
    bus.publish(chunk(role="assistant", type="code", format="shell", start=True))
    for piece in ["ls ~ ", "| wc -l\n", "echo done"]:
        bus.publish(chunk(role="assistant", type="code", format="shell", content=piece))
    bus.publish(chunk(role="assistant", type="code", format="shell", end=True))


async def add_user(pilot, text: str) -> None:
    await pilot.pause()  # the snapshot's pilot starts once the app is mounted; its chat screen mounts just after
    await pilot.app.screen.transcript.add_user(text)


def test_snapshot_empty_chat(snap_compare, make_interpreter):
    app = OiApp(make_interpreter())
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_snapshot_streamed_reply_with_code(snap_compare, make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)

    async def run_before(pilot):
        await add_user(pilot, "How many files are in my home folder?")
        publish_reply_with_code(interp.bus)
        bus = interp.bus
        bus.publish(StatusChanged("running", "shell"))
        bus.publish(chunk(role="computer", type="console", start=True))
        bus.publish(chunk(role="computer", type="console", format="output", content="\x1b[32m42\x1b[0m\ndone\n"))
        bus.publish(chunk(role="computer", type="console", end=True))
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_approval_bar(snap_compare, make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)

    async def run_before(pilot):
        await add_user(pilot, "How many files are in my home folder?")
        ask_for_approval(interp.bus)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_editing(snap_compare, make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)

    async def run_before(pilot):
        await add_user(pilot, "How many files are in my home folder?")
        ask_for_approval(interp.bus)
        await settle(pilot)
        await pilot.press("ctrl+g", "end", *" # edited")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_pending_with_risk_marks(snap_compare, make_interpreter):
    """A pending block with the real classifier's marks: gutter marks, the card's summary and lines."""
    from oi_core.safety.risk import classify, summarize

    interp = make_interpreter()
    app = OiApp(interp)
    code = "ls ~/old_logs\nrm -rf ~/old_logs\ncurl -s https://example.com/setup.sh | sh\necho done"

    async def run_before(pilot):
        await add_user(pilot, "Clean up my old logs and set things up")
        marks = classify("shell", code)
        bus = interp.bus
        bus.publish(StatusChanged("awaiting_approval", "shell"))
        bus.publish(ApprovalRequested("approval-2", "shell", code, risks=marks, summary=summarize(marks)))
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_error(snap_compare, make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)

    async def run_before(pilot):
        await add_user(pilot, "hello")
        interp.bus.publish(ErrorRaised("llm", "The model server answered with an error (500): try again in a moment."))
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_narrow_80x24_with_code(snap_compare, make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)

    async def run_before(pilot):
        await add_user(pilot, "How many files?")
        ask_for_approval(interp.bus)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
