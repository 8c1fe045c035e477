"""The one client interface, both implementations, the same tests: in-process and over a real WebSocket server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oi_core.client import CoreClient
from oi_core.client_local import LocalClient
from oi_core.client_remote import RemoteClient
from oi_core.events import (
    ApprovalRequested, ChunkEmitted, ErrorRaised, FilesRestored, InputRequested, MessagesReplaced, SettingsApplied,
    TurnFinished,
)
from tests.conftest import Reply
from tests.server_support import ServerThread


@pytest.fixture(params=["local", "remote"])
async def client_for(request, make_interpreter):
    """A factory: a started client of the given kind over an interpreter made with `settings`."""
    opened: list[tuple[CoreClient, ServerThread | None]] = []

    async def make(**settings) -> CoreClient:
        interp = make_interpreter(**settings)
        if request.param == "local":
            client: CoreClient = LocalClient(interp)
            served = None
        else:
            served = ServerThread(interp, allow_remote_approval_settings=settings.pop("_allow", False))
            served.__enter__()
            client = RemoteClient(served.ws_url, "key")
        await client.start()
        opened.append((client, served))
        return client

    make.kind = request.param
    yield make
    for client, served in opened:
        await client.close()
        if served is not None:
            await asyncio.to_thread(served.stop)


async def next_event(subscription, kind, timeout: float = 60):
    async def wait():
        while True:
            event = await subscription.get()
            if isinstance(event, kind):
                return event

    return await asyncio.wait_for(wait(), timeout)


async def turn_text(subscription, timeout: float = 60) -> str:
    parts = []

    async def wait():
        while True:
            event = await subscription.get()
            if isinstance(event, ChunkEmitted) and event.chunk.get("type") == "message" \
                    and isinstance(event.chunk.get("content"), str):
                parts.append(event.chunk["content"])
            if isinstance(event, TurnFinished):
                return

    await asyncio.wait_for(wait(), timeout)
    return "".join(parts)


async def test_a_turn_streams_events_and_the_state_follows(client_for, llm):
    client = await client_for()
    events = client.bus.subscribe()
    llm.queue(Reply(text="Streamed reply.", chunk_size=3))
    client.send("hello there")
    assert await turn_text(events) == "Streamed reply."
    await asyncio.sleep(0.2)
    assert [m["content"] for m in client.state.messages] == ["hello there", "Streamed reply."]
    assert client.state.model == "openai/test-model"
    assert client.busy is False


async def test_approve_edited_code_and_answer_input(client_for, llm):
    client = await client_for()
    events = client.bus.subscribe()
    llm.queue(Reply(text="```shell\necho model\n```\n"), "Done.")
    client.send("run something")
    request = await next_event(events, ApprovalRequested)
    assert request.code == "echo model"
    client.approve(request.request_id, "read -p 'Who? ' who; echo edited-$who")
    asked = await next_event(events, InputRequested)
    client.answer_input(asked.request_id, "me")
    outputs = []
    while True:
        event = await asyncio.wait_for(events.get(), 60)
        if isinstance(event, ChunkEmitted) and event.chunk.get("format") == "output":
            outputs.append(str(event.chunk.get("content")))
        if isinstance(event, TurnFinished):
            break
    assert "edited-me" in "".join(outputs)
    await asyncio.sleep(0.2)
    code = [m for m in client.state.messages if m.get("type") == "code"][-1]
    assert code["edited"] is True and code["original"] == "echo model"


async def test_skip_with_reason_and_stop(client_for, llm, tmp_path):
    client = await client_for()
    events = client.bus.subscribe()
    marker = tmp_path / "skipped"
    llm.queue(Reply(text=f"```shell\ntouch {marker}\n```\n"), "Fine, not doing it.")
    client.send("make it")
    request = await next_event(events, ApprovalRequested)
    client.skip(request.request_id, reason="not now")
    assert "Fine, not doing it." in await turn_text(events)
    assert not marker.exists()
    llm.queue(Reply(text="```shell\nsleep 60\n```\n"))
    client.send("wait")
    request = await next_event(events, ApprovalRequested)
    client.approve(request.request_id, request.code)
    await asyncio.sleep(1.0)
    client.stop()
    finished = await next_event(events, TurnFinished, timeout=30)
    assert finished.reason == "stopped"


async def test_settings_go_through_and_approval_settings_are_guarded_remotely(client_for, llm):
    client = await client_for()
    events = client.bus.subscribe()
    client.set_setting("llm.model", "openai/other")
    await next_event(events, SettingsApplied)
    assert client.state.model == "openai/other"
    client.set_setting("auto_run", True)
    if client.remote:
        error = await next_event(events, ErrorRaised)
        assert "--allow-remote-approval-settings" in error.message
        assert client.state.auto_run is False
    else:
        await next_event(events, SettingsApplied)
        assert client.state.auto_run is True


async def test_conversations_navigator_calls(client_for, llm, tmp_path):
    client = await client_for(conversation_history=True)
    events = client.bus.subscribe()
    llm.queue("First answer.")
    client.send("first conversation about llamas")
    await next_event(events, TurnFinished)
    first_id = client.state.conversation_id
    await client.new_conversation()
    await next_event(events, MessagesReplaced)
    assert client.state.messages == []
    llm.queue("Second answer.")
    client.send("second one about otters")
    await next_event(events, TurnFinished)
    await asyncio.sleep(0.3)
    listing = await client.list_conversations()
    assert {info.id for info in listing.infos} >= {first_id, client.state.conversation_id}
    found = await client.search_conversations("llamas", listing.infos)
    assert [info.id for info in found] == [first_id]
    messages = await client.load_conversation(first_id)
    assert messages[0]["content"] == "first conversation about llamas"
    renamed = await client.rename_conversation(first_id, "Llama talk")
    assert renamed.title == "Llama talk"
    target = await client.export_conversation(first_id, "markdown", tmp_path / "llamas.md")
    assert "first conversation about llamas" in Path(target).read_text()
    notebook = await client.export_conversation(first_id, "notebook", tmp_path / "llamas.ipynb")
    assert '"cells"' in Path(notebook).read_text()
    await client.resume_conversation(first_id)
    await next_event(events, MessagesReplaced)
    assert client.state.conversation_id == first_id
    assert [m["content"] for m in client.state.messages] == ["first conversation about llamas", "First answer."]
    await client.delete_conversation(renamed.id)
    assert first_id not in {info.id for info in (await client.list_conversations()).infos}
    with pytest.raises(Exception) as failed:
        await client.load_conversation("no-such-conversation")
    assert "Could not read that conversation" in str(failed.value)


async def test_profiles_list_and_switch(client_for, llm):
    from oi_core.profiles import profile_dir

    (profile_dir() / "client-test.yaml").write_text("llm:\n  model: openai/from-profile\nauto_run: true\n")
    client = await client_for()
    events = client.bus.subscribe()
    names = [entry.name for entry in await client.list_profiles()]
    assert "client-test" in names
    problems = await client.switch_profile("client-test")
    await next_event(events, SettingsApplied)
    await asyncio.sleep(0.2)
    assert client.state.profile == "client-test"
    if client.remote:  # a profile cannot turn auto-run on from a remote client
        assert client.state.auto_run is False
        assert any("not applied" in p for p in problems)
    else:
        assert client.state.auto_run is True


async def test_undo_and_recorded_runs(client_for, llm, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    client = await client_for()
    events = client.bus.subscribe()
    llm.queue(Reply(text="```shell\necho made > made.txt\n```\n"), "Made.")
    client.send("make a file")
    request = await next_event(events, ApprovalRequested)
    client.approve(request.request_id, request.code)
    await next_event(events, TurnFinished)
    await asyncio.sleep(0.3)
    assert (project / "made.txt").exists()
    runs = client.recorded_runs()
    assert runs and client.last_undoable()[0] == runs[-1][0]
    changes, patch = await client.run_changes(runs[-1][1])
    assert [c.path for c in changes] == ["made.txt"] and "+made" in patch
    result = await client.undo()
    assert result.runs == [runs[-1][0]]
    await next_event(events, FilesRestored)
    assert not (project / "made.txt").exists()
