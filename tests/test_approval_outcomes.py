"""Every approval outcome over the bus is recorded honestly and reaches the model (issue 10 §1, §2).

Each test drives a real Session with typed events, lets the scripted server answer, and inspects the
request the server receives next: that is exactly what the model reads.
"""

from __future__ import annotations

import asyncio
import json

from oi_core.approval import NOT_RUN_NOTES
from oi_core.events import (
    ApprovalRequested,
    ApprovalResolved,
    ChunkEmitted,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    StopRequested,
    TurnFinished,
    UserMessageSent,
)
from oi_core.session import Session
from tests.llm_server import Reply


async def next_of(sub, kind, timeout=20.0):
    async def wait():
        async for event in sub:
            if isinstance(event, kind):
                return event
    return await asyncio.wait_for(wait(), timeout)


def sent_text(llm, request=-1) -> str:
    return json.dumps(llm.requests[request]["messages"])


async def start(make_interpreter, llm, reply, **settings):
    interp = make_interpreter(**settings)
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, ApprovalResolved, TurnFinished, ErrorRaised)
    llm.queue(reply)
    interp.bus.publish(UserMessageSent("go"))
    request = await next_of(sub, ApprovalRequested)
    return interp, session, sub, request


async def test_escape_records_not_run_and_the_model_reads_it(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await start(make_interpreter, llm, f"```shell\ntouch {marker}\n```")
    interp.bus.publish(CodeSkipped(request.request_id, how="escape"))
    assert (await next_of(sub, ApprovalResolved)).outcome == "escaped"
    assert (await next_of(sub, TurnFinished)).reason == "skipped"
    assert not marker.exists()
    assert interp.messages[-1] == {"role": "computer", "type": "console", "format": "output",
                                   "content": NOT_RUN_NOTES["escape"], "not_run": True}
    llm.queue("OK.")
    interp.bus.publish(UserMessageSent("next"))
    await next_of(sub, TurnFinished)
    assert NOT_RUN_NOTES["escape"] in sent_text(llm)
    await session.close()


async def test_stop_while_awaiting_approval_records_not_run(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await start(make_interpreter, llm, f"```shell\ntouch {marker}\n```")
    interp.bus.publish(StopRequested())
    assert (await next_of(sub, ApprovalResolved)).outcome == "stopped"
    assert (await next_of(sub, TurnFinished)).reason == "stopped"
    assert interp.messages[-1]["content"] == NOT_RUN_NOTES["stopped"] and interp.messages[-1]["not_run"]
    interp.bus.publish(CodeApproved(request.request_id, request.code))  # too late: the request is gone
    await asyncio.sleep(0.5)
    assert not marker.exists()
    llm.queue("OK.")
    interp.bus.publish(UserMessageSent("next"))
    await next_of(sub, TurnFinished)
    assert NOT_RUN_NOTES["stopped"] in sent_text(llm)
    await session.close()


async def test_skip_with_a_reason_goes_to_the_model_at_once(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await start(make_interpreter, llm, f"```shell\nrm -rf {marker}\n```")
    llm.queue("Then I will move it to the trash instead.")
    interp.bus.publish(CodeSkipped(request.request_id, reason="use the trash, not rm"))
    assert (await next_of(sub, TurnFinished)).reason == "done"
    assert len(llm.requests) == 2, "the model answers the reason in the same turn"
    text = sent_text(llm)
    assert "declined to run this code" in text and "use the trash, not rm" in text
    assert interp.messages[-1]["content"] == "Then I will move it to the trash instead."
    await session.close()


async def test_skip_without_a_reason_ends_the_turn(make_interpreter, llm, tmp_path) -> None:
    interp, session, sub, request = await start(make_interpreter, llm, "```shell\necho hi\n```")
    interp.bus.publish(CodeSkipped(request.request_id))
    assert (await next_of(sub, TurnFinished)).reason == "skipped"
    assert len(llm.requests) == 1
    await session.close()


async def test_fix_sends_risk_reasons_and_asks_to_explain_or_fix(make_interpreter, llm, tmp_path) -> None:
    interp, session, sub, request = await start(make_interpreter, llm, "```shell\nsudo rm -rf ~/old_logs\n```")
    llm.queue("That deletes your old logs folder with admin rights; here is a safer version.")
    interp.bus.publish(CodeSkipped(request.request_id, reason="why sudo?", how="fix"))
    assert (await next_of(sub, ApprovalResolved)).outcome == "fix"
    assert (await next_of(sub, TurnFinished)).reason == "done"
    assert len(llm.requests) == 2
    last = llm.requests[-1]["messages"][-1]["content"]
    assert "did not run this code" in last and "Explain" in last
    assert "The user's note: why sudo?" in last
    assert {mark.category for mark in request.risks} >= {"delete", "privilege"}
    for mark in request.risks:  # every reason the classifier gave reaches the model
        assert mark.reason in last and f"line {mark.line}" in last
    await session.close()


async def test_edited_code_is_marked_and_the_model_gets_a_diff(make_interpreter, llm) -> None:
    interp, session, sub, request = await start(make_interpreter, llm, "```shell\necho one\necho from-model\n```")
    llm.queue("Done.")
    interp.bus.publish(CodeApproved(request.request_id, "echo one\necho from-user"))
    assert (await next_of(sub, TurnFinished)).reason == "done"
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["content"] == "echo one\necho from-user"
    assert code["edited"] is True and code["original"] == "echo one\necho from-model"
    assert [m["content"] for m in interp.messages if m.get("format") == "output"] == ["one\nfrom-user\n"]
    told = llm.requests[-1]["messages"][-1]["content"]
    assert "The user edited your code" in told
    assert "-echo from-model" in told and "+echo from-user" in told and "from-user" in told
    await session.close()


async def test_unknown_and_stale_request_ids_are_ignored(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "count"
    interp, session, sub, request = await start(make_interpreter, llm, f"```shell\necho x >> {marker}\n```")
    interp.bus.publish(CodeApproved("approval-000000000000", request.code))
    interp.bus.publish(CodeApproved(request.request_id + "x", request.code))
    await asyncio.sleep(0.5)
    assert not marker.exists() and interp.status == "awaiting_approval"
    llm.queue("ok")
    interp.bus.publish(CodeApproved(request.request_id, request.code))
    interp.bus.publish(CodeApproved(request.request_id, request.code))  # a double press runs once
    await next_of(sub, TurnFinished)
    interp.bus.publish(CodeApproved(request.request_id, request.code))  # stale
    await asyncio.sleep(0.5)
    assert marker.read_text() == "x\n"
    await session.close()


async def test_approval_is_only_requested_once_the_block_is_complete(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, ChunkEmitted, TurnFinished)
    marker = tmp_path / "ran"
    code = f"touch {marker}\n" + "".join(f"echo line {i}\n" for i in range(30))
    llm.queue(Reply(text=f"```shell\n{code}```\n", chunk_size=3, chunk_delay=0.01))
    interp.bus.publish(UserMessageSent("go"))
    seen_end = False
    while True:
        event = await asyncio.wait_for(sub.get(), 20)
        if isinstance(event, ChunkEmitted):
            chunk = event.chunk
            if chunk.get("type") == "code" and chunk.get("role") == "assistant" and chunk.get("end"):
                seen_end = True
            continue
        assert isinstance(event, ApprovalRequested)
        break
    assert seen_end, "approval was requested before the code block had finished streaming"
    assert event.code == code.rstrip("\n") and event.request_id.startswith("approval-") and len(event.request_id) > 15
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    assert not marker.exists()
    await session.close()
