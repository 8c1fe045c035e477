"""Honest output: a run that failed is recorded and shown as failed; HTML is described as what really happened."""

from __future__ import annotations

import json

import pytest

from tests.llm_server import Reply


def run_block(interp, llm, fence: str) -> list[dict]:
    llm.queue(fence, "ok")
    return list(interp.chat("go", display=False, stream=True))


def output_message(interp) -> dict:
    return next(m for m in interp.messages if m.get("format") == "output")


@pytest.mark.parametrize("language, code", [("python", "x = 1\nraise ValueError('boom')"), ("shell", "echo before\nfalse")])
def test_a_failed_run_is_recorded_as_failed(make_interpreter, llm, language, code) -> None:
    interp = make_interpreter(auto_run=True)
    chunks = run_block(interp, llm, f"```{language}\n{code}\n```")
    end = next(c for c in chunks if c["role"] == "computer" and c["type"] == "console" and c.get("end"))
    assert end.get("status") == "error"
    assert output_message(interp).get("status") == "error"
    assert not any(c.get("format") == "outcome" for c in chunks), "the verdict is not output"
    assert "outcome" not in json.dumps(interp.messages)


@pytest.mark.parametrize("language, code", [("python", "print('fine')"), ("shell", "echo fine")])
def test_a_run_that_worked_has_no_error_status(make_interpreter, llm, language, code) -> None:
    interp = make_interpreter(auto_run=True)
    chunks = run_block(interp, llm, f"```{language}\n{code}\n```")
    end = next(c for c in chunks if c["role"] == "computer" and c["type"] == "console" and c.get("end"))
    assert "status" not in end and "status" not in output_message(interp)


def test_html_is_described_to_the_model_as_what_happened(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    run_block(interp, llm, "```html\n<b>hello</b>\n```")
    seen = json.dumps(llm.requests[-1]["messages"])
    assert "rendered for the user" not in seen
    assert "not rendered" in seen or "as text" in seen


async def test_the_tui_labels_a_failed_block_failed(make_interpreter, llm, pinned_look, no_kernel_warm_up) -> None:
    from oi_tui.app import OiApp
    from oi_tui.widgets.code_block import CodeBlock
    from tests.tui_support import chat, send, wait_for

    interp = make_interpreter(auto_run=True)
    interp.computer.languages = [*interp.computer.languages, Verdict]
    llm.queue(Reply(text="```verdict\nfail now\n```"), "It failed.")
    app = OiApp(interp)
    async with app.run_test(size=(120, 35)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) >= 4)
        block = app.query_one(CodeBlock)
        assert block.state == "failed"
        assert "failed" in str(block.query_one("#code-header").render())
        interp.load_messages(list(interp.messages))  # as when the conversation is resumed
        await wait_for(pilot, lambda: app.query(CodeBlock) and app.query_one(CodeBlock) is not block)
        assert app.query_one(CodeBlock).state == "failed"


class Verdict:
    """A reference-style custom language whose runs report their own outcome (the runner contract)."""

    name = "verdict"

    def run(self, code):
        yield {"type": "console", "format": "output", "content": f"ran {code}\n"}
        if "fail" in code:
            yield {"type": "console", "format": "outcome", "content": "error"}


def test_a_runners_verdict_marks_the_output_and_is_never_output(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.computer.languages = [*interp.computer.languages, Verdict]
    chunks = run_block(interp, llm, "```verdict\nfail please\n```")
    end = next(c for c in chunks if c["role"] == "computer" and c["type"] == "console" and c.get("end"))
    assert end.get("status") == "error"
    assert output_message(interp) == {"role": "computer", "type": "console", "format": "output",
                                      "content": "ran fail please\n", "status": "error"}
    assert not any(c.get("format") == "outcome" for c in chunks)
