"""The one confirm dialog never takes a "y" that was typed before the user could read the question."""

from __future__ import annotations

from oi_tui.app import OiApp
from oi_tui.screens import confirm
from oi_tui.screens.confirm import ConfirmScreen
from tests.tui_support import say_yes, wait_for


async def test_typed_ahead_yes_is_ignored_then_a_deliberate_yes_answers(make_interpreter, monkeypatch):
    monkeypatch.setattr(confirm, "ARMING_DELAY", 3.0)  # wide enough that a loaded machine cannot blur it
    app = OiApp(make_interpreter())
    answers: list[bool | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ConfirmScreen("Delete everything?"), answers.append)
        await wait_for(pilot, lambda: hasattr(app.screen, "armed_at"))
        await pilot.press("y")  # the rest of a sentence, arriving as the question appears
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause()
        assert answers == [] and isinstance(app.screen, ConfirmScreen)
        assert app.last_key_time < app.screen.armed_at, "the machine was too slow for this test to mean anything"
        await say_yes(pilot)
        await wait_for(pilot, lambda: answers == [True])


async def test_no_and_escape_answer_at_once(make_interpreter):
    app = OiApp(make_interpreter())
    answers: list[bool | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ConfirmScreen("Quit?"), answers.append)
        await pilot.press("n")
        await wait_for(pilot, lambda: answers == [False])
