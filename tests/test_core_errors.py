"""Every LLM failure becomes one clear sentence; the conversation survives and the next message works."""

from __future__ import annotations

import pytest

from oi_core.errors import LlmError
from tests.llm_server import Reply


def _fails_then_recovers(interp, llm, reply: Reply, expected: str) -> str:
    interp.llm.max_retries = 0
    llm.queue("Hello.")
    interp.chat("hello", display=False)
    before = list(interp.messages)
    llm.queue(reply)
    with pytest.raises(LlmError) as caught:
        interp.chat("this one fails", display=False)
    message = caught.value.message
    assert expected in message
    assert "openai/test-model" in message, "the sentence names the model"
    assert "\n" not in message and "Traceback" not in message
    assert interp.messages[: len(before)] == before, "the conversation so far is intact"
    llm.queue("Recovered.")
    assert interp.chat("again", display=False)[-1]["content"] == "Recovered."
    return message


@pytest.mark.parametrize(
    "status, expected",
    [(401, "rejected the API key"), (404, "404"), (500, "server error"), (429, "rate-limiting")],
)
def test_http_errors(make_interpreter, llm, status, expected) -> None:
    interp = make_interpreter()
    message = _fails_then_recovers(interp, llm, Reply(status=status), expected)
    assert llm.url in message, "the sentence names the endpoint"


def test_retries_hide_a_single_transient_failure(make_interpreter, llm) -> None:
    interp = make_interpreter()
    interp.llm.max_retries = 1
    llm.queue(Reply(status=503), "Fine.")
    assert interp.chat("hi", display=False)[-1]["content"] == "Fine."
    assert len(llm.requests) == 2


def test_timeout(make_interpreter, llm) -> None:
    interp = make_interpreter()
    interp.llm.request_timeout = 1
    _fails_then_recovers(interp, llm, Reply(text="late", delay=3), "did not answer in time")


def test_connection_dropped_mid_stream_keeps_the_partial_reply(make_interpreter, llm) -> None:
    interp = make_interpreter()
    _fails_then_recovers(interp, llm, Reply(text="The partial answer is long", drop_after_chunks=4), "dropped the connection")
    assert any(m["content"].startswith("The partial") for m in interp.messages if m["role"] == "assistant")


def test_dropped_stream_never_runs_half_written_code(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter(auto_run=True)
    marker = tmp_path / "ran"
    llm.queue(Reply(text=f"```shell\ntouch {marker}\necho more\n```", chunk_size=8, drop_after_chunks=4))
    with pytest.raises(LlmError):
        interp.chat("go", display=False)
    assert not marker.exists()


def test_malformed_json_chunk(make_interpreter, llm) -> None:
    interp = make_interpreter()
    _fails_then_recovers(interp, llm, Reply(text="Some text here", malformed_after_chunks=3), "openai/test-model")


def test_server_not_running(make_interpreter, llm) -> None:
    interp = make_interpreter()
    interp.llm.api_base = "http://127.0.0.1:9/v1"
    with pytest.raises(LlmError) as caught:
        interp.chat("hello", display=False)
    assert "127.0.0.1:9" in caught.value.message
    assert "Could not connect" in caught.value.message
    assert interp.messages == [], "nothing came of the message: it is taken back, so a retry is not a duplicate"


def test_missing_api_key_names_the_variable(make_interpreter, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    interp = make_interpreter()
    interp.llm.model = "gpt-4o"
    interp.llm.api_base = None
    interp.llm.api_key = None
    with pytest.raises(LlmError) as caught:
        interp.chat("hello", display=False)
    assert "No API key for gpt-4o" in caught.value.message
    assert "OPENAI_API_KEY" in caught.value.message


async def test_keyring_lookup_stays_off_the_event_loop(make_interpreter, llm, monkeypatch) -> None:
    import threading

    from oi_core import secrets

    threads = []

    def lookup(model, api_base=None):
        threads.append(threading.current_thread())
        return "test-key"

    monkeypatch.setattr(secrets, "lookup_api_key", lookup)
    interp = make_interpreter()
    interp.llm.api_key = None
    llm.queue("Hello.")
    [c async for c in interp.achat("hi")]
    assert threads and threading.main_thread() not in threads, "a keyring read would freeze the UI"
