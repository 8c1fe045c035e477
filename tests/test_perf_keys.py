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


async def test_keys_an_input_declines_still_reach_the_screen(make_interpreter) -> None:
    """"down" in a search box: the Input's inherited scroll binding declines, the screen's binding acts."""
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widgets import Input

    class Search(Screen):
        BINDINGS = [Binding("down", "to_list", "List", id="test.to_list")]

        def __init__(self) -> None:
            super().__init__()
            self.moved = 0

        def compose(self):
            yield Input(id="search")

        def action_to_list(self) -> None:
            self.moved += 1

    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 35)) as pilot:
        screen = Search()
        await app.push_screen(screen)
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("down")
        await pilot.press("a", "b", "backspace", "down")
        await pilot.pause(0.1)
        assert screen.moved == 2 and app.focused.value == "a"


def test_full_collections_wait_for_a_quiet_idle_moment(monkeypatch) -> None:
    """No full garbage collection (a frozen screen) while a turn runs or the user types; one once both stop."""
    import gc
    import time

    from oi_tui import gc_policy

    last_key, busy, collected = [0.0], [True], []
    monkeypatch.setattr(gc_policy, "EVERY", 0.0)
    monkeypatch.setattr(gc, "collect", lambda *args: collected.append(args) or 0)
    policy = gc_policy.GcPolicy(lambda: last_key[0], lambda: busy[0])
    assert not policy.tick() and not collected, "a turn is running"
    busy[0], last_key[0] = False, time.monotonic()
    assert not policy.tick() and not collected, "a key was just pressed"
    last_key[0] = time.monotonic() - gc_policy.QUIET - 1
    assert policy.tick() and len(collected) == 1 and policy.collections == 1


def test_full_collections_wait_for_a_pause_in_typing(monkeypatch) -> None:
    """A full collection (~150 ms while a reply streams) never starts while the user types: it waits for the
    pause, unless the typing goes on for HOLD_LIMIT seconds (memory stays bounded)."""
    import gc

    from oi_tui import gc_policy

    monkeypatch.setattr(gc, "set_threshold", lambda *values: thresholds.append(values))
    thresholds: list[tuple[int, ...]] = []
    policy = gc_policy.GcPolicy(lambda: 0.0)
    policy.hold_while_typing()
    policy.hold_while_typing()
    assert policy.held and thresholds == [gc_policy.HELD_THRESHOLDS]
    assert gc_policy.HELD_THRESHOLDS[:2] == gc_policy.THRESHOLDS[:2], "young collections go on"
    policy.release_after_typing(typing=True)
    assert policy.held, "still typing"
    policy.release_after_typing(typing=False)
    assert not policy.held and thresholds[-1] == gc_policy.THRESHOLDS

    monkeypatch.setattr(gc_policy, "HOLD_LIMIT", 0.0)
    policy.hold_while_typing()
    policy.release_after_typing(typing=True)
    assert not policy.held, "typing for HOLD_LIMIT seconds no longer holds it"


async def test_typing_in_the_app_holds_full_collections_until_a_pause(make_interpreter) -> None:
    import gc

    from oi_tui import gc_policy

    app = OiApp(make_interpreter())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.gc_policy is not None)
        for key in "hello":
            await pilot.press(key)
            assert gc.get_threshold() == gc_policy.HELD_THRESHOLDS
        await wait_for(pilot, lambda: gc.get_threshold() == gc_policy.THRESHOLDS, timeout=5)  # after the pause
        assert not app.typing()


async def test_prompt_keeps_cursor_keys_in_typing_order(make_interpreter) -> None:
    """Typed while the loop is busy (a reply streaming): "abcdef", two Lefts, "X" must read "abcdXef"."""
    from oi_tui.widgets.prompt_input import PromptInput

    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 35)) as pilot:
        prompt = app.query_one(PromptInput)
        prompt.focus()
        await pilot.pause()
        for key in [*"abcdef", "left", "left", "X", "backspace", "end", "Y"]:  # all queued before any is handled
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await wait_for(pilot, lambda: prompt.text == "abcdefY", timeout=10)
        await pilot.pause(0.3)
        assert prompt.text == "abcdefY"
