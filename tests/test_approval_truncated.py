"""A reply cut off by the token limit (`finish_reason: length`) inside a code block never runs by itself (issue 10 §2).

The scripted server ends the stream with finish_reason "length" in the middle of a fenced block (text
mode) or of a tool call's JSON arguments, exactly as a provider does when max_tokens is reached.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from oi_core.events import ApprovalRequested, CodeApproved, CodeSkipped, ErrorRaised, TurnFinished, UserMessageSent
from oi_core.session import Session
from tests.llm_server import Reply


def cut_text(marker) -> Reply:
    # the model meant `rm -rf <dir>/old_logs/2023`, the limit cut it to the directory itself
    return Reply(text=f"Cleaning up.\n```shell\ntouch {marker}\nrm -rf {marker.parent}/", finish_reason="length")


def cut_tool_call(marker) -> Reply:
    arguments = json.dumps({"language": "shell", "code": f"touch {marker}\nrm -rf {marker.parent}/old_logs/2023"})
    cut = arguments[: arguments.index("old_logs")]
    return Reply(tool_arguments=[cut[i : i + 7] for i in range(0, len(cut), 7)], finish_reason="length")


@pytest.mark.parametrize("mode", ["text", "tool"])
def test_cut_off_code_never_runs_with_auto_run(make_interpreter, llm, tmp_path, mode) -> None:
    interp = make_interpreter(auto_run=True)
    interp.llm.supports_functions = mode == "tool"
    marker = tmp_path / "ran"
    llm.queue(cut_text(marker) if mode == "text" else cut_tool_call(marker))
    new = interp.chat("clean up", display=False)
    assert not marker.exists()
    code = next(m for m in new if m["type"] == "code")
    assert code["incomplete"] is True and code["content"].startswith(f"touch {marker}")
    assert new[-1]["not_run"] is True and "cut off by the token limit" in new[-1]["content"]
    llm.queue("Sorry, I ran out of room.")
    interp.chat("what happened?", display=False)
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "cut off by the token limit" in sent and "declined to run this code" in sent


@pytest.mark.parametrize("mode", ["text", "tool"])
def test_stream_confirmation_says_incomplete_and_reading_on_does_not_run_it(make_interpreter, llm, tmp_path, mode) -> None:
    interp = make_interpreter(auto_run=True)
    interp.llm.supports_functions = mode == "tool"
    marker = tmp_path / "ran"
    llm.queue(cut_text(marker) if mode == "text" else cut_tool_call(marker))
    chunks = list(interp.chat("clean up", display=False, stream=True))
    confirmation = next(c for c in chunks if c["type"] == "confirmation")
    assert confirmation["incomplete"] is True
    assert confirmation["forced"] == "cut off by the token limit"
    assert not marker.exists()
    assert interp.messages[-1]["content"].startswith("This code was not run: it was cut off by the token limit")


def test_a_complete_block_in_a_cut_off_reply_is_not_marked(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter(auto_run=True)
    marker = tmp_path / "ran"
    llm.queue(Reply(text=f"```shell\ntouch {marker}\n```\nAnd then I will expla", finish_reason="length"), "Done.")
    interp.chat("go", display=False)
    assert marker.exists()
    assert "incomplete" not in next(m for m in interp.messages if m["type"] == "code")


async def approval_for(make_interpreter, llm, marker, **settings):
    interp = make_interpreter(**settings)
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, TurnFinished, ErrorRaised)
    llm.queue(cut_text(marker))
    interp.bus.publish(UserMessageSent("clean up"))
    request = await asyncio.wait_for(anext(e async for e in sub if isinstance(e, ApprovalRequested)), 20)
    return interp, session, sub, request


async def test_a_plain_approve_is_refused_and_the_block_stays_pending(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await approval_for(make_interpreter, llm, marker, auto_run=True)
    assert request.incomplete and request.forced == "cut off by the token limit"
    interp.bus.publish(CodeApproved(request.request_id, request.code))
    error = await asyncio.wait_for(sub.get(), 10)
    assert isinstance(error, ErrorRaised) and error.kind == "approval" and "cut off" in error.message
    await asyncio.sleep(0.5)
    assert not marker.exists() and interp.status == "awaiting_approval"
    llm.queue("ok")
    interp.bus.publish(CodeApproved(request.request_id, f"touch {marker}", confirmed_incomplete=True))
    assert (await asyncio.wait_for(sub.get(), 20)).reason == "done"
    assert marker.exists()
    assert "cut off by the token limit; the user chose to run it" in json.dumps(llm.requests[-1]["messages"])
    await session.close()


async def test_an_edited_cut_off_block_runs(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await approval_for(make_interpreter, llm, marker)
    llm.queue("ok")
    interp.bus.publish(CodeApproved(request.request_id, f"touch {marker}"))
    assert (await asyncio.wait_for(sub.get(), 20)).reason == "done"
    assert marker.exists()
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["edited"] and code["incomplete"] and code["content"] == f"touch {marker}"
    await session.close()


async def test_declining_a_cut_off_block_tells_the_model(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await approval_for(make_interpreter, llm, marker)
    interp.bus.publish(CodeSkipped(request.request_id))
    assert (await asyncio.wait_for(sub.get(), 20)).reason == "skipped"
    assert not marker.exists()
    llm.queue("ok")
    interp.bus.publish(UserMessageSent("try again"))
    await asyncio.wait_for(sub.get(), 20)
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "declined to run this code" in sent and "cut off by the token limit" in sent
    await session.close()
