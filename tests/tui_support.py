"""Helpers shared by the Pilot tests of the TUI."""

from __future__ import annotations

import time

from oi_tui.app import OiApp
from oi_tui.screens.chat import ChatScreen


async def wait_for(pilot, condition, timeout: float = 20.0, step: float = 0.05) -> None:
    """Let the app run until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(step)


def chat(app: OiApp) -> ChatScreen:
    screen = app.screen if isinstance(app.screen, ChatScreen) else app.chat_screen
    assert screen is not None
    return screen


def on_chat(app: OiApp) -> bool:
    return isinstance(app.screen, ChatScreen)


async def send(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


async def wait_for_approval(pilot, timeout: float = 30.0):
    """Wait until a code block is pending and its card accepts the run key; returns the PendingApproval."""
    app = pilot.app
    await wait_for(pilot, lambda: chat(app).pending is not None and chat(app).pending.ready, timeout=timeout)
    return chat(app).pending


async def run_one_decline_the_next(pilot, message: str) -> None:
    """Send `message`, run the first block it brings and decline (Esc) the second, which ends the turn."""
    await send(pilot, message)
    await wait_for_approval(pilot)
    await pilot.press("ctrl+r")
    await wait_for_approval(pilot)
    await pilot.press("escape")
    await wait_for(pilot, lambda: chat(pilot.app).status == "idle" and not chat(pilot.app).busy)


async def say_yes(pilot) -> None:
    """Answer the confirm dialog with "y" once it accepts keys (it ignores keys typed ahead of it)."""
    import time

    from oi_tui.screens.confirm import ConfirmScreen

    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and hasattr(app.screen, "armed_at"))
    await pilot.pause(max(0.0, app.screen.armed_at - time.monotonic()) + 0.05)
    await pilot.press("y")

