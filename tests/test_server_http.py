"""HTTP: /heartbeat, /settings with its allow-list and real status codes, and the OpenAI endpoint through the SDK."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import openai
import pytest

from oi_core.server import ConfigError, ServerConfig
from tests.conftest import Reply
from tests.server_support import FrameClient, ServerThread, output_of

KEY = "test-server-key-0123"


@pytest.fixture
def template(make_interpreter):
    return make_interpreter()


async def test_heartbeat_needs_no_key_settings_do(template):
    with ServerThread(template, api_key=KEY) as served:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url + "/heartbeat") as response:
                assert response.status == 200 and await response.json() == {"status": "ok"}
            async with http.get(served.url + "/settings") as response:
                assert response.status == 401
                assert "API key" in (await response.json())["error"]["message"]
            async with http.get(served.url + "/settings", headers={"X-API-KEY": "wrong-key-000"}) as response:
                assert response.status == 401
            async with http.get(served.url + "/settings", headers={"X-API-KEY": KEY}) as response:
                assert response.status == 200
                values = await response.json()
            async with http.get(served.url + "/settings/llm.model",
                                headers={"Authorization": f"Bearer {KEY}"}) as response:
                assert response.status == 200 and await response.json() == {"llm.model": "openai/test-model"}
    assert values["auto_run"] is False and values["llm.model"] == "openai/test-model"
    assert "llm.api_key" not in values and "llm.api_base" not in values


async def test_settings_errors_have_real_status_codes_and_json_bodies(template):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            async def post(body, **kwargs):
                async with http.post(served.url + "/settings", data=body, **kwargs) as response:
                    return response.status, await response.json()

            json_type = {"headers": {"Content-Type": "application/json"}}
            assert (await post("{not json", **json_type))[0] == 400
            assert (await post(json.dumps([1, 2]), **json_type))[0] == 400
            assert (await post(json.dumps({"model": "x"}), headers={"Content-Type": "text/plain"}))[0] == 415
            status, body = await post(json.dumps({"no_such_setting": 1}), **json_type)
            assert status == 400 and "no_such_setting" in body["error"]["message"]
            status, body = await post(json.dumps({"auto_run": True}), **json_type)
            assert status == 403 and "--allow-remote-approval-settings" in body["error"]["message"]
            status, body = await post(json.dumps({"safe_mode": "off"}), **json_type)
            assert status == 403
            status, body = await post(json.dumps({"llm": {"api_base": "http://evil.example/v1"}}), **json_type)
            assert status == 403, "a client could send the server's key to another endpoint"
            status, body = await post(json.dumps({"llm": {"temperature": "hot"}}), **json_type)
            assert status == 400 and body["error"]["type"] == "bad_request"
            async with http.get(served.url + "/settings/llm.api_key") as response:
                assert response.status == 403
            async with http.get(served.url + "/settings/nonsense") as response:
                assert response.status == 404 and "error" in await response.json()
            async with http.get(served.url + "/nowhere") as response:
                assert response.status == 404 and "error" in await response.json()
            async with http.get(served.url + "/") as response:  # the WebSocket address, fetched as a page
                assert response.status == 400 and "WebSocket" in (await response.json())["error"]["message"]
        assert served.server.template.auto_run is False
        assert served.server.template.llm.api_base != "http://evil.example/v1"


async def test_allowed_settings_reach_live_and_new_sessions(template, llm):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            client = await FrameClient.connect(http, served.ws_url, events=True, ack=True)
            live = next(iter(served.server.sessions.values()))
            body = {"llm": {"model": "openai/other-model"}, "custom_instructions": "Be terse."}
            async with http.post(served.url + "/settings", json=body) as response:
                assert response.status == 200
                assert (await response.json())["applied"] == {"llm.model": "openai/other-model",
                                                              "custom_instructions": "Be terse."}
            applied = await client.until(lambda f: f.get("event") == "SettingsApplied")
            assert applied[-1]["state"]["model"] == "openai/other-model"
            assert live.interpreter.llm.model == "openai/other-model"
            llm.queue("ok")
            later = await FrameClient.connect(http, served.ws_url)
            await later.send_message("hi")
            await later.until_complete()
    assert llm.requests[-1]["model"] == "other-model"
    assert "Be terse." in llm.last_messages()[0]["content"]


async def test_approval_settings_change_only_with_the_explicit_flag(template):
    with ServerThread(template, allow_remote_approval_settings=True) as served:
        async with aiohttp.ClientSession() as http:
            async with http.post(served.url + "/settings", json={"auto_run": True}) as response:
                assert response.status == 200
        assert served.server.template.auto_run is True


async def test_web_pages_are_refused_by_origin_and_host(template):
    with ServerThread(template) as served:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(served.ws_url, headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            async with http.post(served.url + "/settings", json={"llm": {"model": "x"}},
                                 headers={"Origin": "http://evil.example"}) as response:
                assert response.status == 403
            async with http.get(served.url + "/settings", headers={"Host": "rebound.example:8000"}) as response:
                assert response.status == 403
        assert served.server.template.llm.model == "openai/test-model"
    with ServerThread(template, allowed_origins=("http://localhost:5173",)) as served:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(served.ws_url, headers={"Origin": "http://localhost:5173"})
            await ws.send_json({"auth": "x"})
            assert (await ws.receive_json())["auth"] is True
            await ws.close()


def test_binding_beyond_loopback_needs_a_key_and_warns():
    with pytest.raises(ConfigError) as refused:
        ServerConfig.from_environment(host="0.0.0.0", port=0, environ={})
    assert "INTERPRETER_API_KEY" in refused.value.message
    config = ServerConfig.from_environment(host="0.0.0.0", port=0, environ={"INTERPRETER_API_KEY": KEY})
    assert any("reachable from other machines" in line for line in config.warnings())
    env = ServerConfig.from_environment(environ={"INTERPRETER_HOST": "127.0.0.2", "INTERPRETER_PORT": "8123",
                                                 "INTERPRETER_REQUIRE_ACKNOWLEDGE": "True"})
    assert (env.host, env.port, env.require_ack) == ("127.0.0.2", 8123, True)
    default = ServerConfig.from_environment(environ={})
    assert (default.host, default.port, default.api_key) == ("127.0.0.1", 8000, None)


async def test_openai_sdk_without_streaming(template, llm):
    llm.queue(Reply(text="Paris is the capital.", chunk_size=3))
    with ServerThread(template, api_key=KEY) as served:
        client = openai.OpenAI(base_url=served.url + "/openai", api_key=KEY)
        response = await asyncio.to_thread(client.chat.completions.create, model="ignored",
                                           messages=[{"role": "system", "content": "Answer briefly."},
                                                     {"role": "user", "content": "Capital of France?"}])
    assert response.choices[0].message.content == "Paris is the capital."
    assert response.choices[0].finish_reason == "stop"
    sent = llm.last_messages()
    assert sent[-1] == {"role": "user", "content": "Capital of France?"}, "the request grew an extra message"
    assert "Answer briefly." in sent[0]["content"]


async def test_openai_sdk_streaming_with_history(template, llm):
    llm.queue(Reply(text="Second answer, streamed.", chunk_size=2))
    with ServerThread(template, api_key=KEY) as served:
        client = openai.AsyncOpenAI(base_url=served.url + "/openai", api_key=KEY)
        stream = await client.chat.completions.create(
            model="ignored", stream=True,
            messages=[{"role": "user", "content": "First?"}, {"role": "assistant", "content": "First answer."},
                      {"role": "user", "content": "Second?"}])
        chunks = [chunk async for chunk in stream]
        async with aiohttp.ClientSession() as http:  # the raw stream: standard SSE, ending with [DONE]
            llm.queue(Reply(text="raw", chunk_size=2))
            async with http.post(served.url + "/openai/chat/completions", headers={"X-API-KEY": KEY},
                                 json={"model": "x", "stream": True,
                                       "messages": [{"role": "user", "content": "hi"}]}) as response:
                assert response.headers["Content-Type"].startswith("text/event-stream")
                raw = (await response.read()).decode()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Second answer, streamed."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].index == 0 for c in chunks)
    assert [m["content"] for m in llm.requests[0]["messages"][1:]] == ["First?", "First answer.", "Second?"]
    events = [line for line in raw.split("\n\n") if line.strip()]
    assert events[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in events)


async def test_openai_endpoint_declines_code_unless_auto_run(make_interpreter, llm, tmp_path):
    marker = tmp_path / "made.txt"
    llm.queue(Reply(text=f"```shell\ntouch {marker}\n```\n"), "I was not allowed.")
    with ServerThread(make_interpreter()) as served:
        client = openai.OpenAI(base_url=served.url + "/openai", api_key="unused")
        response = await asyncio.to_thread(client.chat.completions.create, model="m",
                                           messages=[{"role": "user", "content": "make it"}])
    assert not marker.exists()
    assert "I was not allowed." in response.choices[0].message.content
    llm.queue(Reply(text="```shell\necho auto-$((2+3))\n```\n"), "Ran it.")
    with ServerThread(make_interpreter(auto_run=True)) as served:
        client = openai.OpenAI(base_url=served.url + "/openai", api_key="unused")
        response = await asyncio.to_thread(client.chat.completions.create, model="m",
                                           messages=[{"role": "user", "content": "run it"}])
    assert "auto-5" in response.choices[0].message.content


async def test_openai_errors_are_http_errors_the_sdk_raises(template, llm):
    template.llm.max_retries = 0
    llm.queue(Reply(status=500, error_message="model exploded"))
    with ServerThread(template, api_key=KEY) as served:
        client = openai.OpenAI(base_url=served.url + "/openai", api_key=KEY, max_retries=0)
        with pytest.raises(openai.APIStatusError) as failed:
            await asyncio.to_thread(client.chat.completions.create, model="m",
                                    messages=[{"role": "user", "content": "hi"}])
        assert failed.value.status_code == 502
        with pytest.raises(openai.AuthenticationError):
            await asyncio.to_thread(openai.OpenAI(base_url=served.url + "/openai", api_key="nope-nope",
                                                  max_retries=0).chat.completions.create,
                                    model="m", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError):
            await asyncio.to_thread(client.chat.completions.create, model="m",
                                    messages=[{"role": "assistant", "content": "no user message"}])
        llm.queue(Reply(text="partial reply that breaks", chunk_size=3, drop_after_chunks=3))
        stream = await asyncio.to_thread(client.chat.completions.create, model="m", stream=True,
                                         messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.APIError):
            await asyncio.to_thread(lambda: [c for c in stream])
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url + "/heartbeat") as response:
                assert response.status == 200  # still serving


def test_output_helper_reads_console_frames():
    frames = [{"role": "computer", "type": "console", "format": "output", "content": "a"},
              {"role": "computer", "type": "console", "format": "active_line", "content": 1}]
    assert output_of(frames) == "a"
