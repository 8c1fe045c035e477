"""The WebSocket protocol at `/`, spoken by a real aiohttp client from the documented frames (plus the auth frame)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Reply
from tests.server_support import FrameClient, ServerThread, errors_of, is_complete, output_of, text_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture
def template(make_interpreter):
    return make_interpreter()


async def test_documented_interaction_with_an_image_path(template, llm, tmp_path):
    """The docs' example (message + image path between start and end), corrected to send the auth frame first."""
    template.llm.supports_vision = True
    image = tmp_path / "photo.png"
    image.write_bytes(PNG)
    llm.queue(Reply(text="A tiny image.", chunk_size=3))
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            assert client.hello["auth"] is True and client.hello["session"]
            await client.send_message("Analyze this image:", {"type": "image", "format": "path", "content": str(image)})
            frames = await client.until_complete()
    assert text_of(frames) == "A tiny image."
    assert frames[0] == {"role": "assistant", "type": "message", "start": True}
    assert {"role": "assistant", "type": "message", "end": True} in frames
    sent = llm.last_messages()[-1]["content"]
    assert any(part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
               for part in sent if isinstance(part, dict))
    assert "Analyze this image:" in json.dumps(llm.last_messages())


async def test_base64_image_and_file_reach_the_model(template, llm, tmp_path):
    template.llm.supports_vision = True
    data = tmp_path / "numbers.csv"
    data.write_text("1,2,3\n")
    llm.queue("Seen.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("Look", {"type": "image", "format": "base64.png",
                                               "content": base64.b64encode(PNG).decode()},
                                      {"type": "file", "content": str(data)})
            await client.until_complete()
    request = json.dumps(llm.last_messages())
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in request
    assert str(data) in request


async def test_confirmation_has_an_id_and_go_runs_exactly_that_block(template, llm, tmp_path):
    marker = tmp_path / "ran.txt"
    llm.queue(Reply(text=f"Writing:\n\n```shell\necho written > {marker}\necho done-$((6*7))\n```\n"), "It ran.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("write the file")
            before = await client.until(lambda f: f.get("type") == "confirmation")
            confirmation = before[-1]
            assert confirmation["request_id"].startswith("approval-")
            assert confirmation["content"] == {"type": "code", "format": "shell",
                                               "content": f"echo written > {marker}\necho done-$((6*7))"}
            assert isinstance(confirmation["risks"], list)
            await client.command("go", request_id="approval-000000000000")  # not the block waiting
            refused = await client.until(lambda f: f.get("type") == "error")
            assert "does not match" in errors_of(refused)[0]
            await asyncio.sleep(0.5)
            assert not marker.exists(), "a mismatched go ran code"
            await client.command("go", request_id=confirmation["request_id"])
            after = await client.until_complete()
    assert marker.read_text() == "written\n"
    assert "done-42" in output_of(after)
    assert text_of(after) == "It ran."


async def test_edited_code_sent_back_runs_instead(template, llm):
    llm.queue(Reply(text="```shell\necho model-version\n```\n"), "Fine.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("go on")
            confirmation = (await client.until(lambda f: f.get("type") == "confirmation"))[-1]
            await client.command("go", request_id=confirmation["request_id"], code="echo user-version")
            frames = await client.until_complete()
            session = next(iter(served.server.sessions.values()))
            stored = [m for m in session.interpreter.messages if m.get("type") == "code"][-1]
    assert "user-version" in output_of(frames) and "model-version" not in output_of(frames)
    assert stored["edited"] is True and stored["original"] == "echo model-version"
    assert stored["content"] == "echo user-version"


async def test_skip_tells_the_model_and_ends_with_complete(template, llm, tmp_path):
    marker = tmp_path / "never.txt"
    llm.queue(Reply(text=f"```shell\ntouch {marker}\n```\n"), "Understood, I won't.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("touch it")
            confirmation = (await client.until(lambda f: f.get("type") == "confirmation"))[-1]
            await client.command("skip", request_id=confirmation["request_id"], reason="not today")
            frames = await client.until_complete()
    assert not marker.exists()
    assert text_of(frames) == "Understood, I won't."
    assert "not today" in json.dumps(llm.last_messages())


async def test_console_output_streams_live_and_stop_ends_the_run(template, llm):
    llm.queue(Reply(text="```shell\necho first-tick; sleep 60; echo never\n```\n"))
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("wait a minute")
            confirmation = (await client.until(lambda f: f.get("type") == "confirmation"))[-1]
            await client.command("go", request_id=confirmation["request_id"])
            await client.until(lambda f: "first-tick" in str(f.get("content")), timeout=30)  # while it still sleeps
            started = asyncio.get_running_loop().time()
            await client.command("stop")
            frames = await client.until_complete(timeout=30)
            took = asyncio.get_running_loop().time() - started
    assert took < 15
    assert "never" not in output_of(frames)


async def test_input_request_is_answered_over_the_socket(template, llm):
    llm.queue(Reply(text="```shell\nread -p 'Name? ' name; echo hello-$name\n```\n"), "Greeted.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("ask me")
            confirmation = (await client.until(lambda f: f.get("type") == "confirmation"))[-1]
            await client.command("go", request_id=confirmation["request_id"])
            asked = (await client.until(lambda f: f.get("type") == "input", timeout=30))[-1]
            assert asked["role"] == "server" and "Name?" in asked["content"]
            await client.ws.send_json({"role": "user", "type": "input", "request_id": asked["request_id"],
                                       "content": "Ada"})
            frames = await client.until_complete()
    assert "hello-Ada" in output_of(frames)


async def test_each_connection_has_its_own_conversation_and_shell(template, llm):
    llm.queue(Reply(text="```shell\nexport OI_SECRET_VALUE=alpha; cd /tmp\n```\n"), "Set.",
              Reply(text="```shell\necho value=[$OI_SECRET_VALUE]\n```\n"), "Checked.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            first = await FrameClient.connect(http, served.ws_url)
            second = await FrameClient.connect(http, served.ws_url)
            assert first.hello["session"] != second.hello["session"]
            await first.send_message("set it")
            confirmation = (await first.until(lambda f: f.get("type") == "confirmation"))[-1]
            await first.command("go", request_id=confirmation["request_id"])
            await first.until_complete()
            await second.send_message("read it")
            confirmation = (await second.until(lambda f: f.get("type") == "confirmation"))[-1]
            await second.command("go", request_id=confirmation["request_id"])
            frames = await second.until_complete()
            sessions = list(served.server.sessions.values())
            histories = [[m.get("content") for m in s.interpreter.messages if m.get("role") == "user"] for s in sessions]
    assert "value=[]" in output_of(frames)
    assert sorted(histories) == [["read it"], ["set it"]]


async def test_resume_with_session_id_loses_nothing_and_duplicates_nothing(template, llm):
    words = " ".join(f"w{i}" for i in range(120))
    llm.queue(Reply(text=words, chunk_size=5, chunk_delay=0.01))
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url, ack=True)
            assert client.hello["ack"] is True
            session_id = client.hello["session"]
            await client.send_message("count")
            early = await client.until(lambda f: f.get("type") == "message" and "content" in f, timeout=30)
            for _ in range(10):
                early.append(await client.next())
            last = client.seen_ids[-1]
            await client.ws.close()  # the connection drops mid-reply
            await asyncio.sleep(0.5)
            again = await FrameClient.connect(http, served.ws_url, ack=True, session=session_id, last=last)
            assert again.hello["resumed"] is True and again.hello["session"] == session_id
            rest = await again.until_complete()
    ids = client.seen_ids + again.seen_ids
    assert ids == list(range(ids[0], ids[0] + len(ids))), "frames lost, duplicated or reordered"
    assert text_of(early + rest) == words


async def test_unacknowledged_frames_are_sent_again_and_dropped_by_id(template, llm):
    llm.queue(Reply(text="one two three", chunk_size=4))
    with ServerThread(template, resend_after=0.3) as served:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(served.ws_url)
            await ws.send_json({"auth": "k", "ack": True})
            await ws.receive_json()
            for frame in ({"role": "user", "start": True}, {"role": "user", "type": "message", "content": "hi"},
                          {"role": "user", "end": True}):
                await ws.send_json(frame)
            received = []
            while True:  # never acknowledge the first frame: it must come again, with the same id
                data = await ws.receive_json(timeout=30)
                received.append(data)
                if data["id"] != received[0]["id"]:
                    await ws.send_json({"ack": data["id"]})
                if len([d for d in received if d["id"] == received[0]["id"]]) >= 2:
                    break
            await ws.send_json({"ack": received[0]["id"]})
            await ws.close()
    copies = [d for d in received if d["id"] == received[0]["id"]]
    assert copies[0] == copies[1]


async def test_server_sessions_save_their_conversations(make_interpreter, llm, data_dir):
    template = make_interpreter(conversation_history=True)
    llm.queue("Saved reply.")
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("remember this")
            await client.until_complete()
            conversation_id = next(iter(served.server.sessions.values())).interpreter.conversation_id
    saved = Path(data_dir) / f"{conversation_id}.json"
    assert saved.exists()
    text = saved.read_text()
    assert "remember this" in text and "Saved reply." in text


async def test_magic_command_is_answered_then_complete(template, llm):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url)
            await client.send_message("%help")
            frames = await client.until_complete()
    assert any(f.get("type") == "info" and "%reset" in f.get("content", "") for f in frames)
    assert not llm.requests, "a magic command went to the model"


async def test_header_key_and_bearer_are_accepted_for_the_socket(template, llm):
    llm.queue("Hello.")
    with ServerThread(template, api_key="s3cret-key-123") as served:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(served.ws_url, headers={"Authorization": "Bearer s3cret-key-123"})
            await ws.send_json({"role": "user", "start": True})  # authenticated by the header: no auth frame
            hello = await ws.receive_json(timeout=10)
            assert hello["auth"] is True
            await ws.send_json({"role": "user", "type": "message", "content": "hi"})
            await ws.send_json({"role": "user", "end": True})
            client = FrameClient(ws)
            frames = await client.until_complete()
            await ws.close()
    assert text_of(frames) == "Hello."
    assert is_complete(frames[-1])
