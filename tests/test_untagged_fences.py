"""Text mode: a fence that names no language is offered to run with a guessed language; sample output stays prose."""

from __future__ import annotations

from tests.llm_server import Reply


def test_untagged_code_runs_as_guessed_python(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue("Computing:\n```\nprint(6 * 7)\n```", "It is 42.")
    chunks = list(interp.chat("6*7?", display=False, stream=True))
    start = next(c for c in chunks if c["type"] == "code" and c.get("start"))
    assert start["format"] == "python" and start["language_guessed"] is True
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["format"] == "python" and code["content"] == "print(6 * 7)" and code["language_guessed"] is True
    assert next(m for m in interp.messages if m.get("format") == "output")["content"] == "42\n"


def test_untagged_shell_runs_as_guessed_shell(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue("```\necho guessed-$((40 + 2))\n```", "Done.")
    interp.chat("go", display=False)
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["format"] == "shell" and code["language_guessed"] is True
    assert next(m for m in interp.messages if m.get("format") == "output")["content"] == "guessed-42\n"


def test_a_sample_of_output_stays_prose(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    reply = "The script printed:\n```\n42\n```\nso the answer is 42."
    llm.queue(reply)
    new = interp.chat("what did it print?", display=False)
    assert [m["type"] for m in new] == ["message", "message"]
    assert new[-1]["content"] == reply


async def test_the_tui_says_the_language_was_guessed(make_interpreter, llm, pinned_look, no_kernel_warm_up) -> None:
    from oi_tui.app import OiApp
    from oi_tui.widgets.code_block import CodeBlock
    from tests.tui_support import chat, send, wait_for

    interp = make_interpreter()
    llm.queue(Reply(text="Try this:\n```\nprint('hi')\n```\n"))
    app = OiApp(interp)
    async with app.run_test(size=(120, 35)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: chat(app).pending is not None)
        block = app.query_one(CodeBlock)
        assert block.language_guessed
        assert "python (guessed)" in str(block.query_one("#code-header").render())
