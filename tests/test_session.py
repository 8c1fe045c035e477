"""The bus seam: a client drives a whole turn with typed events only, as the TUI and plain mode do."""

from __future__ import annotations

import asyncio

from oi_core.events import (
    ApprovalRequested,
    ChunkEmitted,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    InputRequested,
    InputAnswered,
    SettingChanged,
    SettingsApplied,
    StatusChanged,
    StopRequested,
    TurnFinished,
    UserMessageSent,
)
from oi_core.session import Session
from tests.llm_server import Reply


async def next_of(sub, kind, timeout=10.0):
    async def wait():
        async for event in sub:
            if isinstance(event, kind):
                return event
    return await asyncio.wait_for(wait(), timeout)


async def test_approve_edited_code_runs_exactly_that_code(make_interpreter, llm) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe()
    llm.queue("```shell\necho from-model\n```", "Done.")
    interp.bus.publish(UserMessageSent("go"))
    request = await next_of(sub, ApprovalRequested)
    assert (request.language, request.code) == ("shell", "echo from-model")
    interp.bus.publish(CodeApproved(request.request_id, "echo from-user"))
    finished = await next_of(sub, TurnFinished)
    assert finished.reason == "done"
    outputs = [m["content"] for m in interp.messages if m.get("format") == "output"]
    assert outputs == ["from-user\n"]
    assert [m["content"] for m in interp.messages if m["type"] == "code"] == ["echo from-user"]
    await session.close()


async def test_skip_tells_the_model_on_the_next_turn(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, TurnFinished)
    marker = tmp_path / "ran"
    llm.queue(f"```shell\ntouch {marker}\n```")
    interp.bus.publish(UserMessageSent("go"))
    request = await next_of(sub, ApprovalRequested)
    interp.bus.publish(CodeSkipped(request.request_id))
    assert (await next_of(sub, TurnFinished)).reason == "skipped"
    assert not marker.exists()
    llm.queue("OK, I won't.")
    interp.bus.publish(UserMessageSent("why not?"))
    await next_of(sub, TurnFinished)
    assert "declined" in str(llm.requests[-1]["messages"])
    await session.close()


async def test_stop_cancels_generation_and_the_next_message_works(make_interpreter, llm) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(ChunkEmitted, TurnFinished)
    llm.queue(Reply(text="slow " * 200, chunk_size=5, chunk_delay=0.05))
    interp.bus.publish(UserMessageSent("talk slowly"))
    await next_of(sub, ChunkEmitted)
    started = asyncio.get_running_loop().time()
    interp.bus.publish(StopRequested())
    assert (await next_of(sub, TurnFinished)).reason == "stopped"
    assert asyncio.get_running_loop().time() - started < 1.0
    assert interp.messages[-1]["content"].startswith("slow")  # the partial reply is kept
    llm.queue("Back.")
    interp.bus.publish(UserMessageSent("hello"))
    await next_of(sub, TurnFinished)
    assert interp.messages[-1]["content"] == "Back."
    await session.close()


async def test_stop_interrupts_running_code(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    session = Session(interp)
    sub = interp.bus.subscribe(StatusChanged, TurnFinished)
    llm.queue("```shell\nsleep 30\n```")
    interp.bus.publish(UserMessageSent("wait"))
    while (await next_of(sub, StatusChanged)).status != "running":
        pass
    await asyncio.sleep(0.2)
    started = asyncio.get_running_loop().time()
    interp.bus.publish(StopRequested())
    assert (await next_of(sub, TurnFinished)).reason == "stopped"
    assert asyncio.get_running_loop().time() - started < 1.5
    assert interp.messages[-1]["content"].endswith("The user stopped this run.")
    assert interp.messages[-1]["status"] == "stopped", "a resumed conversation says the block was stopped"
    await session.close()


async def test_llm_errors_arrive_as_one_sentence_events(make_interpreter, llm) -> None:
    interp = make_interpreter()
    interp.llm.max_retries = 0
    session = Session(interp)
    sub = interp.bus.subscribe(ErrorRaised, TurnFinished)
    llm.queue(Reply(status=500))
    interp.bus.publish(UserMessageSent("hi"))
    error = await next_of(sub, ErrorRaised)
    assert error.kind == "llm" and "server error" in error.message
    assert (await next_of(sub, TurnFinished)).reason == "error"
    await session.close()


async def test_setting_changes_apply_to_the_next_request(make_interpreter, llm) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(SettingsApplied, ErrorRaised, TurnFinished)
    interp.bus.publish(SettingChanged("llm.model", "openai/switched"))
    assert (await next_of(sub, SettingsApplied)).changed == {"llm.model": "openai/switched"}
    interp.bus.publish(SettingChanged("auto_run", "maybe"))
    assert "auto_run" in (await next_of(sub, ErrorRaised)).message
    interp.bus.publish(UserMessageSent("hi"))
    await next_of(sub, TurnFinished)
    assert llm.requests[-1]["model"] == "switched"
    await session.close()


async def test_input_requests_round_trip_over_the_bus(make_interpreter, llm) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(InputRequested)
    answer_task = asyncio.ensure_future(next_of(sub, InputRequested))
    text = asyncio.ensure_future(session.request_input("Your name? "))
    request = await answer_task
    assert request.prompt == "Your name? "
    interp.bus.publish(InputAnswered(request.request_id, "Ada"))
    assert await text == "Ada"
    await session.close()


async def test_a_second_message_while_busy_is_refused_clearly(make_interpreter, llm) -> None:
    interp = make_interpreter()
    session = Session(interp)
    sub = interp.bus.subscribe(ErrorRaised, TurnFinished)
    llm.queue(Reply(text="slow " * 20, chunk_size=5, chunk_delay=0.05))
    interp.bus.publish(UserMessageSent("one"))
    await asyncio.sleep(0.1)
    interp.bus.publish(UserMessageSent("two"))
    error = await next_of(sub, ErrorRaised)
    assert error.kind == "busy"
    await next_of(sub, TurnFinished)
    assert [m["content"] for m in interp.messages if m["role"] == "user"] == ["one"]
    await session.close()


async def test_closing_during_kernel_warm_up_leaves_no_orphan(make_interpreter) -> None:
    import psutil

    interp = make_interpreter()
    session = Session(interp)
    session.warm_up()
    await asyncio.sleep(0.2)  # the kernel is still starting
    await session.close()
    await asyncio.sleep(0.3)
    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert kernels == []
