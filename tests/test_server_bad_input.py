"""Bad input over the WebSocket: each gets one clear error frame, the connection and the session go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Reply
from tests.server_support import FrameClient, ServerThread, errors_of, is_complete, text_of

KEY = "bad-input-key-4567"


@pytest.fixture
def template(make_interpreter):
    return make_interpreter()


async def _still_works(client: FrameClient, llm, text: str = "Still here.") -> None:
    llm.queue(text)
    await client.send_message("are you there?")
    frames = await client.until_complete()
    assert text_of(frames) == text


async def _error_then_complete(client: FrameClient) -> str:
    frames = await client.until(is_complete, timeout=20)
    errors = errors_of(frames)
    assert errors, f"no error frame in {frames}"
    return errors[0]


async def test_bad_frames_each_get_an_error_and_change_nothing(template, llm):
    with ServerThread(template, max_frame_bytes=2000) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.ws.send_str("{this is not json")
            assert "not valid JSON" in await _error_then_complete(client)
            await client.ws.send_str("[1, 2, 3]")
            assert "JSON object" in await _error_then_complete(client)
            await client.ws.send_bytes(b"\x00\x01binary")
            assert "Binary frames" in await _error_then_complete(client)
            await client.ws.send_json({"role": "user", "type": "message", "content": "x" * 5000})
            assert "over this server's limit" in await _error_then_complete(client)
            await client.ws.send_json({"role": "user", "type": "message", "content": "no start"})
            assert "before the message started" in await _error_then_complete(client)
            await client.ws.send_json({"role": "user", "end": True})
            assert "no message open" in await _error_then_complete(client)
            await client.command("dance")
            assert "Unknown command" in await _error_then_complete(client)
            await client.command("go")
            assert "No code is waiting" in await _error_then_complete(client)
            await client.send_message("listen", {"type": "audio", "format": "wav", "content": "/tmp/a.wav"})
            assert "Audio" in await _error_then_complete(client)
            await client.send_message("see", {"type": "image", "format": "path", "content": "/no/such/image.png"})
            assert "does not exist on the server" in await _error_then_complete(client)
            await client.send_message("see", {"type": "image", "format": "base64", "content": "%%%not-base64%%%"})
            assert "could not be decoded" in await _error_then_complete(client)
            await client.ws.send_json({"role": "user", "type": "input", "request_id": "input-99", "content": "x"})
            assert "waiting for that input" in await _error_then_complete(client)
            await client.ws.send_json({"ack": "one"})
            assert "numeric id" in await _error_then_complete(client)
            await client.ws.send_json({"role": "robot"})
            assert "Unknown frame" in await _error_then_complete(client)
            await client.ws.send_json({"role": "client", "type": "setting", "path": "auto_run", "value": True})
            assert "--allow-remote-approval-settings" in await _error_then_complete(client)
            await client.ws.send_json({"role": "client", "type": "allow_rule", "rule": {"language": "shell",
                                                                                        "kind": "no-risk-marks"}})
            assert "--allow-remote-approval-settings" in await _error_then_complete(client)
            await _still_works(client, llm)
            session = next(iter(served.server.sessions.values()))
            assert session.interpreter.auto_run is False and session.interpreter.allow_rules == []
            assert not llm.requests[:-1], "a bad frame reached the model"


async def test_a_message_started_twice_drops_the_unfinished_one(template, llm):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.ws.send_json({"role": "user", "start": True})
            await client.ws.send_json({"role": "user", "type": "message", "content": "half"})
            llm.queue("Whole.")
            await client.send_message("whole")
            frames = await client.until_complete()  # the error's complete
            frames += await client.until_complete()  # the turn's
    assert any("previous one ended" in e for e in errors_of(frames))
    assert llm.last_messages()[-1]["content"] == "whole"


async def test_wrong_or_missing_auth_is_refused_and_closed(template):
    with ServerThread(template, api_key=KEY, auth_timeout=1.0) as served:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(served.ws_url)
            await ws.send_json({"auth": "wrong-key-9999"})
            assert (await ws.receive_json())["auth"] is False
            assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            ws = await http.ws_connect(served.ws_url)
            await ws.send_json({"role": "user", "start": True})  # no auth frame, no key header
            reply = await ws.receive_json()
            assert reply["auth"] is False and "auth" in reply["error"]
            ws = await http.ws_connect(served.ws_url)  # says nothing at all
            reply = await ws.receive_json(timeout=10)
            assert reply["auth"] is False and "in time" in reply["error"]
            ws = await http.ws_connect(served.ws_url)
            await ws.send_json({"auth": KEY, "session": "made-up-session"})
            assert "ended" in (await ws.receive_json())["error"]
            client = await FrameClient.connect(http, served.ws_url, key=KEY)
            assert client.hello["auth"] is True
        assert not served.server.sessions.keys() - {client.hello["session"]}


async def test_the_reference_client_without_auth_frame_is_told_what_to_send(template):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(served.ws_url)
            await ws.send_json({"role": "user", "start": True})
            reply = await ws.receive_json()
    assert reply["auth"] is False and '{"auth": KEY}' in reply["error"]


async def test_a_client_vanishing_mid_run_loses_no_conversation(make_interpreter, llm, data_dir, tmp_path):
    """The client drops while code waits for approval; the server stays up, the session ends later and is saved."""
    template = make_interpreter(conversation_history=True)
    marker = tmp_path / "should-not-exist"
    llm.queue(Reply(text=f"Here:\n\n```shell\ntouch {marker}\n```\n"))
    with ServerThread(template, session_timeout=0.5) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("make a file")
            await client.until(lambda f: f.get("type") == "confirmation")
            conversation_id = next(iter(served.server.sessions.values())).interpreter.conversation_id
            await client.ws.close()
            for _ in range(100):
                if not served.server.sessions:
                    break
                await asyncio.sleep(0.1)
            assert not served.server.sessions, "the abandoned session was never closed"
            async with http.get(served.url + "/heartbeat") as response:
                assert response.status == 200
            llm.queue("Next client fine.")
            other = await FrameClient.connect(http, served.ws_url)
            await other.send_message("hello")
            assert text_of(await other.until_complete()) == "Next client fine."
    saved = Path(data_dir, f"{conversation_id}.json").read_text()
    assert "make a file" in saved and "touch" in saved
    assert '"not_run": true' in saved.replace(" ", "").replace('"not_run":true', '"not_run": true')
    assert not marker.exists()


async def test_a_client_vanishing_while_code_runs_keeps_the_output(make_interpreter, llm, data_dir):
    template = make_interpreter(conversation_history=True, auto_run=True)
    llm.queue(Reply(text="```shell\necho started-run; sleep 1; echo finished-run\n```\n"), "Done.")
    with ServerThread(template, session_timeout=30) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("run it")
            await client.until(lambda f: "started-run" in str(f.get("content")), timeout=30)
            session = next(iter(served.server.sessions.values()))
            await client.ws.close()
            for _ in range(200):
                if not session.busy:
                    break
                await asyncio.sleep(0.1)
    saved = Path(data_dir, f"{session.interpreter.conversation_id}.json").read_text()
    assert "finished-run" in saved and "Done." in saved
