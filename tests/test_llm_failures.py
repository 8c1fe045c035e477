"""LLM failures say what really happened, keep keys out, and a retry never sends the user's message twice."""

from __future__ import annotations

import traceback

import pytest

from oi_core.errors import LlmError
from oi_core.events import ErrorRaised, InputWithdrawn
from tests.llm_server import Reply

KEY = "sk-test-SECRETKEY1234567890abcdef"


def failing_chat(interp, llm, reply: Reply, text: str = "do it") -> LlmError:
    interp.llm.max_retries = 0
    llm.queue(reply)
    with pytest.raises(LlmError) as caught:
        interp.chat(text, display=False)
    return caught.value


def user_texts(request) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_retrying_after_failures_sends_the_message_once(make_interpreter, llm) -> None:
    interp = make_interpreter()
    llm.queue("Hello.")
    interp.chat("hello", display=False)
    withdrawn = []
    interp.bus.on(InputWithdrawn, withdrawn.append)
    for _ in range(4):
        failing_chat(interp, llm, Reply(status=500))
    assert [e.text for e in withdrawn] == ["do it"] * 4
    llm.queue("Done.")
    assert interp.chat("do it", display=False)[-1]["content"] == "Done."
    assert user_texts(llm.requests[-1]) == ["hello", "do it"], "four failures must not merge into one turn"
    assert [m["content"] for m in interp.messages] == ["hello", "Hello.", "do it", "Done."]


def test_a_partial_reply_stays_and_so_does_the_message(make_interpreter, llm) -> None:
    interp = make_interpreter()
    withdrawn = []
    interp.bus.on(InputWithdrawn, withdrawn.append)
    error = failing_chat(interp, llm, Reply(text="The partial answer is long", drop_after_chunks=4))
    assert "dropped the connection" in error.message
    assert withdrawn == []
    assert [m["role"] for m in interp.messages] == ["user", "assistant"]


def test_html_page_instead_of_a_stream_is_reported(make_interpreter, llm) -> None:
    interp = make_interpreter()
    page = b"<html><head><title>Sign in</title></head><body>Corporate proxy login</body></html>"
    error = failing_chat(interp, llm, Reply(raw_body=page, content_type="text/html; charset=utf-8"))
    assert "text/html page instead of a reply stream" in error.message
    assert llm.url in error.message and "API base" in error.message
    assert interp.messages == []


def test_an_event_stream_with_no_reply_in_it_is_reported(make_interpreter, llm) -> None:
    interp = make_interpreter()
    error = failing_chat(interp, llm, Reply(raw_body=b"garbage, not events\n\n", content_type="text/event-stream"))
    assert "sent no reply" in error.message


def test_a_malformed_event_is_not_called_a_dropped_connection(make_interpreter, llm) -> None:
    interp = make_interpreter()
    error = failing_chat(interp, llm, Reply(text="Some text here", malformed_after_chunks=3))
    assert "malformed event" in error.message and "dropped" not in error.message


def test_a_400_mentioning_json_reports_the_providers_message(make_interpreter, llm) -> None:
    interp = make_interpreter()
    body = "Invalid JSON payload: 'messages[1].content' must be a string"
    error = failing_chat(interp, llm, Reply(status=400, error_message=body))
    assert "(400)" in error.message and body in error.message
    assert "malformed" not in error.message


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_key_echoed_by_the_provider_is_redacted(make_interpreter, llm, status) -> None:
    interp = make_interpreter()
    interp.llm.api_key = KEY
    published = []
    interp.bus.on(ErrorRaised, published.append)
    error = failing_chat(interp, llm, Reply(status=status, error_message=f"bad request; got Authorization: Bearer {KEY}"))
    shown = "".join(traceback.format_exception(error))
    assert KEY not in shown and KEY not in error.message
    assert "SECRETKEY" not in shown
    assert published and all(KEY not in e.message for e in published)
    assert "Authorization" in error.message, "the provider's message is still reported"


def test_a_key_set_on_llm_is_redacted_even_without_the_interpreter(make_interpreter) -> None:
    from oi_core.secrets import redact

    interp = make_interpreter()
    interp.llm.api_key = "zq-unusual-shape-key-0123456789"
    assert "0123456789" not in redact("the server said: zq-unusual-shape-key-0123456789 is wrong")
