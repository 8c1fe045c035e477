"""Keys typed faster than the app handles them keep their order and are never lost."""

from __future__ import annotations

import pytest
from textual import events
from textual.command import CommandInput, CommandPalette

from oi_tui.app import OiApp
from tests.tui_support import wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

#: The issue's sequence: "convers", 7 x backspace, "switch prof", 11 x backspace, "them".
BURST = list("convers") + ["backspace"] * 7 + list("switch prof") + ["backspace"] * 11 + list("them")


def key_event(key: str) -> events.Key:
    if key == "backspace":
        return events.Key("backspace", None)
    return events.Key("space" if key == " " else key, key)


async def test_palette_keeps_every_key_typed_in_a_burst(make_interpreter) -> None:
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: CommandPalette.is_open(app) and isinstance(app.focused, CommandInput))
        for key in BURST:  # all queued before any is handled: the worst case of a busy loop
            app.post_message(key_event(key))
        field = app.focused
        await wait_for(pilot, lambda: field.value == "them", timeout=10)
        await pilot.pause(0.3)
        assert field.value == "them"
