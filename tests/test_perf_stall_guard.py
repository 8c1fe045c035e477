"""The stall guard (tests/loop_stalls.py, fixture `ui_stall_guard`) fails a Pilot test whose UI loop is held."""

from __future__ import annotations

import time

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static


class Stalling(App[None]):
    BINDINGS = [
        Binding("b", "block", "Block", id="test.block"),
        Binding("c", "burn", "Burn", id="test.burn"),
        Binding("q", "quick", "Quick", id="test.quick"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("stalling app")

    def action_block(self) -> None:
        time.sleep(1.5)  # a network call or a subprocess waited for on the loop (the wall-clock rule: 1 s)

    def action_burn(self) -> None:
        started = time.thread_time()
        while time.thread_time() - started < 0.3:  # CPU in a handler: 6x the 50 ms rule, past any load scaling
            pass

    def action_quick(self) -> None:
        sum(range(1000))


@pytest.mark.parametrize("key", ["b", "c"])
async def test_a_handler_that_holds_the_loop_fails_the_test(key: str) -> None:
    app = Stalling()
    with pytest.raises(AssertionError, match="the UI loop stalled"):
        async with app.run_test() as pilot:
            await pilot.press(key)
            await pilot.pause(0.1)


async def test_quick_handlers_and_the_tests_own_waiting_pass(ui_stall_guard) -> None:
    app = Stalling()
    async with app.run_test() as pilot:
        await pilot.press("q", "q", "q")
        time.sleep(0.45)  # the test body itself is not the UI
        await pilot.pause(0.1)
    assert ui_stall_guard.stalls == []


@pytest.mark.allow_stalls("checks that the marker turns the guard off")
async def test_the_marker_turns_the_guard_off() -> None:
    app = Stalling()
    async with app.run_test() as pilot:
        await pilot.press("b")
        await pilot.pause(0.1)
