"""Whether code runs without asking is on screen at any terminal width."""

from __future__ import annotations

import pytest

from oi_tui.app import OiApp
from oi_tui.widgets.status_line import StatusLine
from tests.tui_support import wait_for


@pytest.mark.parametrize("width", [60, 80, 120])
async def test_auto_run_state_survives_a_narrow_terminal(make_interpreter, width):
    interp = make_interpreter()
    interp.llm.model = "openai/a-model-with-a-rather-long-name-for-the-status-line"
    app = OiApp(interp)
    async with app.run_test(size=(width, 24)) as pilot:
        status = app.screen.query_one(StatusLine)
        status.profile = "my-profile-name"
        await wait_for(pilot, lambda: "ready" in status.render().plain)
        shown = status.render().plain
        assert "auto-run off" in shown and len(shown) <= width, shown
        status.auto_run = True
        await pilot.pause()
        shown = status.render().plain
        assert "auto-run ON" in shown and len(shown) <= width, shown
        status.safe_mode = "ask"
        await pilot.pause()
        assert "asks: safe mode ask" in status.render().plain
        if width >= 120:
            assert "my-profile-name" in shown and "a-model-with" in shown


async def test_auto_run_is_said_once_at_start(make_interpreter):
    from oi_tui.widgets.chat_messages import NoticeMessage

    app = OiApp(make_interpreter(auto_run=True))
    async with app.run_test(size=(100, 30)) as pilot:
        said = lambda: [n.text for n in app.screen.query(NoticeMessage)]  # noqa: E731
        await wait_for(pilot, lambda: said())
        assert said() == ["Auto-run is on: code the model writes runs without asking you first."]
    quiet = OiApp(make_interpreter())
    async with quiet.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert not quiet.screen.query(NoticeMessage)
