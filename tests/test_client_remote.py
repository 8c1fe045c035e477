"""RemoteClient over a real server: drops are announced and retried, nothing typed is lost or sent twice."""

from __future__ import annotations

import asyncio
import socket

import pytest

from oi_core.client import ConnectionLost, ConnectionRestored
from oi_core.client_remote import AuthRefused, RemoteClient, RemoteError, normalize_url
from oi_core.events import ChunkEmitted, TurnFinished
from tests.conftest import Reply
from tests.server_support import ServerThread

KEY = "remote-client-key-1"


async def wait_for(subscription, kind, timeout=60):
    async def wait():
        while True:
            event = await subscription.get()
            if isinstance(event, kind):
                return event

    return await asyncio.wait_for(wait(), timeout)


def drop(served: ServerThread) -> None:
    """Cut every client connection from the server side (as a network failure would)."""
    for session in list(served.server.sessions.values()):
        if session.ws is not None:
            served.call(session.ws.close(code=1006))


def test_addresses_are_normalised():
    assert normalize_url("127.0.0.1:8000") == "ws://127.0.0.1:8000/"
    assert normalize_url("http://box:9/") == "ws://box:9/"
    assert normalize_url("https://box") == "wss://box/"
    with pytest.raises(RemoteError):
        normalize_url("ftp://box")


async def test_wrong_key_and_unreachable_server_are_one_sentence(make_interpreter):
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        with pytest.raises(AuthRefused) as refused:
            await RemoteClient(served.ws_url, "wrong-key-000").start()
        assert "Wrong API key" in refused.value.message
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteError) as unreachable:
        await RemoteClient(f"ws://127.0.0.1:{port}", KEY).start()
    assert unreachable.value.message.startswith("Cannot reach ws://127.0.0.1:")


async def test_a_dropped_connection_resumes_mid_reply_without_loss(make_interpreter, llm):
    words = " ".join(f"w{i}" for i in range(150))
    llm.queue(Reply(text=words, chunk_size=5, chunk_delay=0.01))
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        client = RemoteClient(served.ws_url, KEY, retry_max=0.5)
        await client.start()
        events = client.bus.subscribe()
        client.send("count for me")
        parts: list[str] = []
        lost = restored = None
        while True:
            event = await asyncio.wait_for(events.get(), 60)
            if isinstance(event, ChunkEmitted) and event.chunk.get("type") == "message" \
                    and isinstance(event.chunk.get("content"), str):
                parts.append(event.chunk["content"])
                if len(parts) == 8:
                    await asyncio.to_thread(drop, served)
            elif isinstance(event, ConnectionLost):
                lost = event
            elif isinstance(event, ConnectionRestored):
                restored = event
            elif isinstance(event, TurnFinished):
                break
        await client.close()
    assert lost is not None and "Lost the connection" in lost.reason
    assert restored is not None and restored.resumed
    assert "".join(parts) == words


async def test_messages_typed_while_disconnected_are_sent_once_on_reconnect(make_interpreter, llm):
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        client = RemoteClient(served.ws_url, KEY, retry_max=0.3)
        await client.start()
        events = client.bus.subscribe()
        await asyncio.to_thread(drop, served)
        await wait_for(events, ConnectionLost)
        llm.queue("Got it once.")
        client.send("typed while offline")
        await wait_for(events, ConnectionRestored, timeout=30)
        await wait_for(events, TurnFinished)
        await asyncio.sleep(0.5)
        session = served.server.sessions[client.session_id]
        users = [m["content"] for m in session.interpreter.messages if m["role"] == "user"]
        await client.close()
    assert users == ["typed while offline"]
    assert [m["content"] for m in client.state.messages] == ["typed while offline", "Got it once."]


async def test_a_restarted_server_gives_a_new_session_and_says_so(make_interpreter, llm):
    template = make_interpreter()
    first = ServerThread(template, api_key=KEY)
    first.__enter__()
    port = first.server.port
    client = RemoteClient(first.ws_url, KEY, retry_max=0.3)
    await client.start()
    events = client.bus.subscribe()
    await asyncio.to_thread(first.stop)
    await wait_for(events, ConnectionLost)
    with ServerThread(template, api_key=KEY, port=port):
        restored = await wait_for(events, ConnectionRestored, timeout=30)
        assert restored.resumed is False and "new one started" in restored.detail
        llm.queue("Fresh session.")
        client.send("hello again")
        await wait_for(events, TurnFinished)
        await client.close()


async def test_closing_the_client_ends_its_session_on_the_server(make_interpreter, llm):
    with ServerThread(make_interpreter(), session_timeout=300) as served:
        client = RemoteClient(served.ws_url)
        await client.start()
        assert client.session_id in served.server.sessions
        await client.close()
        for _ in range(50):
            if client.session_id not in served.server.sessions:
                break
            await asyncio.sleep(0.1)
        assert client.session_id not in served.server.sessions
