"""TUI: worker failures are told, magic commands count as busy, and a bad $EDITOR never blanks the screen."""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from oi_tui.app import OiApp
from oi_tui.screens.confirm import ConfirmScreen
from oi_tui.widgets.chat_messages import UserMessage
from tests.tui_support import chat, send, wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_failing_worker_is_told(make_interpreter):
    app = OiApp(make_interpreter())

    async def broken():
        raise RuntimeError("disk on fire")

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.run_worker(broken(), group="export", exit_on_error=False)
        chat(app).run_worker(broken(), group="bus-extra", name="screen job", exit_on_error=False)
        await wait_for(pilot, lambda: len([n for n in notes(app) if "disk on fire" in n]) == 2)
        assert any(n.startswith("Exporting the conversation failed: RuntimeError: disk on fire") for n in notes(app))
        assert app.is_running
    logged = app.log_file.read_text(encoding="utf-8")
    assert "disk on fire" in logged and "Traceback" in logged, "the traceback is kept in the log file"
    assert any(str(app.log_file) in n for n in notes(app)), "the user is told where the details are"


async def test_a_magic_command_is_busy_stoppable_and_messages_wait(make_interpreter, llm):
    interp = make_interpreter()
    app = OiApp(interp)
    llm.queue("Hello after the command.")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "%% echo started; sleep 30")
        await wait_for(pilot, lambda: chat(app).busy and app.busy)
        await send(pilot, "queued hello")
        await pilot.pause(0.3)
        assert chat(app).queued.texts == ["queued hello"], "the message waits for the command"
        assert not llm.requests
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # stop the command; the waiting message is sent as soon as it has ended
        await wait_for(pilot, lambda: llm.requests and chat(app).status == "idle", timeout=40)
        assert [m["content"] for m in llm.requests[0]["messages"] if m["role"] == "user"] == ["queued hello"]
        assert [m.text for m in app.query(UserMessage)] == ["queued hello"]


async def test_a_missing_editor_is_said_before_the_app_steps_aside(make_interpreter, monkeypatch):
    monkeypatch.setenv("EDITOR", "definitely-not-an-editor-oi")
    monkeypatch.delenv("VISUAL", raising=False)
    app = OiApp(make_interpreter())
    suspended = []
    monkeypatch.setattr(app, "suspend", lambda: suspended.append(1) or contextlib.nullcontext())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.action_edit_profile()
        await pilot.pause()
        assert suspended == []
        assert any("definitely-not-an-editor-oi" in n and "not found" in n for n in notes(app))


async def test_an_editor_that_fails_to_start_still_restores_the_screen(make_interpreter, monkeypatch):
    monkeypatch.setenv("EDITOR", "true")  # found on PATH, but launching it will fail below
    monkeypatch.delenv("VISUAL", raising=False)
    app = OiApp(make_interpreter())
    ended = []

    @contextlib.contextmanager
    def suspend():
        try:
            yield
        except BaseException:
            ended.append("raised")  # Textual would then never resume the screen
            raise
        ended.append("normally")

    def call(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "true")

    monkeypatch.setattr(app, "suspend", suspend)
    monkeypatch.setattr(subprocess, "call", call)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.action_edit_profile()
        await pilot.pause()
        assert ended == ["normally"]
        assert any("Could not open true" in n and "Permission denied" in n for n in notes(app))


async def test_switching_profile_while_a_turn_runs_is_refused(make_interpreter, monkeypatch):
    """A profile resets settings: under a running turn it is refused with one sentence, and nothing changes.

    Once the turn has ended the switch works, and its file is read off the UI loop.
    """
    import threading

    from oi_core import profiles

    read_in: list[str] = []
    real = profiles.load_with_fallback
    monkeypatch.setattr(profiles, "load_with_fallback",
                        lambda *a, **k: read_in.append(threading.current_thread().name) or real(*a, **k))
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "%% sleep 30")
        await wait_for(pilot, lambda: chat(app).busy and app.busy)
        before = (interp.profile, interp.llm.model)
        app.switch_profile("fast")
        await wait_for(pilot, lambda: any("Stop the current turn before you switch profiles." in n for n in notes(app)))
        assert (interp.profile, interp.llm.model) == before
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.busy, timeout=30)
        app.switch_profile("fast")
        await wait_for(pilot, lambda: interp.profile == "fast")
    assert read_in and threading.main_thread().name not in read_in
