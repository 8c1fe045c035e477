"""The console pane: a skipped block gets its own section; a program's input() prompt stays visible while typing."""

from __future__ import annotations

import pytest

from oi_core.events import InputRequested
from oi_tui.app import OiApp
from oi_tui.widgets.prompt_input import PromptInput
from tests.tui_support import chat, run_one_decline_the_next, send, wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)


def console_lines(app) -> list[str]:
    screen = chat(app)
    screen.flush_buffers()
    return list(screen.console.log_widget.lines)


async def test_a_skip_is_its_own_section_not_part_of_the_last_output(make_interpreter, llm):
    interp = make_interpreter()
    llm.queue("```shell\necho first-output\n```\n", "Now another one:\n```shell\necho second\n```\n")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_one_decline_the_next(pilot, "go")
        await wait_for(pilot, lambda: any("not run" in line for line in console_lines(app)))
        lines = [line for line in console_lines(app) if line.strip()]
        first = lines.index("first-output")
        assert lines[first + 1] == "── shell · not run ──", lines
        assert "not run" not in lines[first] and len(lines) > first + 2


async def test_the_programs_prompt_stays_visible_while_typing(make_interpreter, llm):
    interp = make_interpreter(auto_run=True)
    llm.queue("```python\nname = input('Your name: ')\nprint('hi', name)\n```\n", "Greeted.")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "greet me")
        await wait_for(pilot, lambda: chat(app).console.asking, timeout=60)
        console = chat(app).console
        assert console.prompt_text == "Your name:" or console.prompt_text == "Your name: "
        await pilot.press("B", "o")
        assert console.prompt_text.startswith("Your name:"), "the prompt is still shown while the answer is typed"
        assert console.query_one("#console-prompt").display
        await pilot.press("b", "enter")
        await wait_for(pilot, lambda: chat(app).status == "idle" and any("hi Bob" in l for l in console_lines(app)),
                       timeout=30)
        assert any(line.startswith("Your name:") and line.endswith("Bob") for line in console_lines(app))
        assert not console.query_one("#console-prompt").display


async def test_an_input_request_does_not_steal_focus_from_a_half_typed_prompt(make_interpreter):
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"half a thought")
        interp.bus.publish(InputRequested("input-test", "Continue? "))
        await wait_for(pilot, lambda: chat(app).console.asking)
        assert isinstance(app.focused, PromptInput), "typing must not land in the program's stdin"
        assert "Tab" in chat(app).console.query_one("#console-input").placeholder
        chat(app).console.cancel_question()
        chat(app).query_one(PromptInput).load_text("")
        interp.bus.publish(InputRequested("input-test-2", "Again? "))  # nothing half-typed: the answer line focuses
        await wait_for(pilot, lambda: chat(app).console.asking)
        assert app.focused is chat(app).console.query_one("#console-input")


async def test_the_output_gets_the_whole_pane_and_the_answer_line_one_row(make_interpreter):
    """The answer line takes no room while no program asks (it once took half the pane, empty)."""
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        console = chat(app).console
        await wait_for(pilot, lambda: bool(console.query("#console-ask")))  # mounted once typing pauses
        await pilot.pause(0.1)
        log, ask = console.log_widget, console.query_one("#console-ask")
        inside = console.content_region.height
        assert log.outer_size.height == inside and ask.outer_size.height == 0
        interp.bus.publish(InputRequested("input-test", "Continue? "))
        await wait_for(pilot, lambda: console.asking)
        await pilot.pause(0.1)
        assert ask.outer_size.height == 1 and log.outer_size.height == inside - 1
