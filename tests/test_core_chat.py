"""The library API as the reference documents it, end to end through litellm and the scripted server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.llm_server import Reply

#: Keys our stored messages may carry beyond LMC's role/type/format/content (documented on the team board:
#: checkpoints, approval, honest output, guessed fences); readers of the reference format ignore them.
EXTENSIONS = {"checkpoint", "status", "edited", "original", "incomplete", "allowed_by", "scan", "not_run", "language_guessed"}


def lmc(messages: list[dict]) -> list[dict]:
    """The reference's view of stored messages; fails on any extra key that is not one of ours."""
    for message in messages:
        assert set(message) - {"role", "type", "format", "content"} <= EXTENSIONS, message
    return [{k: v for k, v in m.items() if k in ("role", "type", "format", "content")} for m in messages]


#: Packages that must load on first use only: the UI, the model client and what it pulls in, the kernel
#: client, the server, and big numeric libraries.
HEAVY = ("textual", "rich", "oi_tui", "litellm", "openai", "tiktoken", "pydantic", "aiohttp", "httpx",
         "jupyter_client", "zmq", "numpy")


def test_import_is_light_and_ui_free() -> None:
    """`import oi_core` loads only the standard library and our own modules (~0.1 s of CPU on an idle box).

    The bound is CPU time, not wall time, so other processes on the shared machine do not move it; importing
    litellm alone costs over a second of CPU, textual ~0.2 s.
    """
    code = (
        "import sys, time; t = time.process_time(); from oi_core import interpreter, OpenInterpreter; "
        "d = time.process_time() - t; "
        f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})); "
        "print(d); print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[1] == "", f"oi_core pulled in {out[1]}"
    assert float(out[0]) < 0.3, f"importing oi_core took {float(out[0]):.2f} s of CPU"


def test_chat_runs_code_and_returns_the_new_messages(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue("Computing.\n```shell\necho $((34*2))\n```", "It is 68.")
    new = interp.chat("What's 34*2?", display=False)
    assert lmc(new) == [
        {"role": "user", "type": "message", "content": "What's 34*2?"},
        {"role": "assistant", "type": "message", "content": "Computing."},
        {"role": "assistant", "type": "code", "format": "shell", "content": "echo $((34*2))"},
        {"role": "computer", "type": "console", "format": "output", "content": "68\n"},
        {"role": "assistant", "type": "message", "content": "It is 68."},
    ]
    assert interp.messages == new
    # the model saw the output through the code output template, as the user role by default
    second = llm.requests[1]["messages"]
    assert second[-1]["role"] == "user" and "68" in second[-1]["content"]
    assert second[-1]["content"].startswith("Code output:")


def test_streamed_chunks_follow_the_lmc_protocol(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue(Reply(text="```shell\necho hi\n```", chunk_size=3), "Done.")
    chunks = list(interp.chat("say hi", display=False, stream=True))
    kinds = [(c["role"], c["type"], c.get("format"), "start" if c.get("start") else "end" if c.get("end") else "body") for c in chunks]
    assert kinds[0] == ("assistant", "code", "shell", "start")
    code = "".join(c["content"] for c in chunks if c["type"] == "code" and "content" in c and c["role"] == "assistant")
    assert code == "echo hi"
    confirm = next(i for i, c in enumerate(chunks) if c["type"] == "confirmation")
    console_start = next(i for i, c in enumerate(chunks) if c["type"] == "console" and c.get("start"))
    assert confirm < console_start, "the confirmation chunk must come before code runs"
    assert chunks[confirm] == {
        "role": "computer", "type": "confirmation", "format": "execution",
        "content": {"type": "code", "format": "shell", "content": "echo hi"},
        "risks": [],  # issue 10 §4: every confirmation carries the classifier's marks (none for echo)
    }
    output = "".join(c["content"] for c in chunks if c.get("format") == "output")
    assert output == "hi\n"
    assert any(c.get("format") == "active_line" and c["content"] is None for c in chunks)
    assert chunks[-1] == {"role": "assistant", "type": "message", "end": True}


def test_breaking_on_the_confirmation_chunk_prevents_the_run(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(f"```shell\ntouch {marker}\n```")
    for chunk in interp.chat("touch it", display=False, stream=True):
        if chunk["type"] == "confirmation":
            break
    assert not marker.exists()


def test_without_auto_run_and_nobody_to_ask_code_is_declined(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(f"```shell\ntouch {marker}\n```")
    new = interp.chat("touch it", display=False)
    assert not marker.exists()
    assert new[-1]["content"] == "The user declined to run this code."
    llm.queue("Understood.")
    interp.chat("ok", display=False)
    assert "declined" in json.dumps(llm.requests[-1]["messages"])


def test_tool_calling_mode(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.llm.supports_functions = True
    llm.queue(Reply(tool_language="shell", tool_code="echo tool-$((1+1))", chunk_size=5), "Two.")
    new = interp.chat("use the tool", display=False)
    assert {"role": "assistant", "type": "code", "format": "shell", "content": "echo tool-$((1+1))"} in lmc(new)
    assert new[-2]["content"] == "tool-2\n"
    request = llm.requests[0]
    assert request["tools"][0]["function"]["name"] == "execute"
    follow_up = llm.requests[1]["messages"]
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "execute"
    assert follow_up[-1]["role"] == "tool" and follow_up[-1]["content"] == "tool-2\n"


def test_messages_can_be_saved_and_restored(make_interpreter, llm) -> None:
    interp = make_interpreter()
    llm.queue("Nice to meet you, Killian.")
    interp.chat("My name is Killian.", display=False)
    saved = interp.messages
    interp.reset()
    assert interp.messages == []
    interp.messages = saved
    llm.queue("Killian.")
    interp.chat("What's my name?", display=False)
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "My name is Killian." in sent


def test_instances_are_independent(make_interpreter, llm) -> None:
    a, b = make_interpreter(), make_interpreter()
    b.llm.model = "openai/other-model"
    llm.queue("A", "B")
    a.chat("to a", display=False)
    b.chat("to b", display=False)
    assert [m["content"] for m in a.messages] == ["to a", "A"]
    assert [m["content"] for m in b.messages] == ["to b", "B"]
    assert [r["model"] for r in llm.requests] == ["test-model", "other-model"]


def test_custom_completions_sync_and_async(make_interpreter, llm) -> None:
    interp = make_interpreter()

    def echo(messages, model, stream, max_tokens):
        for character in messages[-1]["content"]:
            yield {"choices": [{"delta": {"content": character}}]}

    interp.llm.completions = echo
    assert interp.chat("Hi!", display=False)[-1]["content"] == "Hi!"

    async def shout(messages, **kwargs):
        for word in messages[-1]["content"].upper().split():
            yield {"choices": [{"delta": {"content": word + " "}}]}

    interp.llm.completions = shout
    assert interp.chat("hey you", display=False)[-1]["content"] == "HEY YOU"
    assert llm.requests == []


def test_templates_and_sender(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.user_message_template = "<<{content}>>"
    interp.code_output_template = "OUT[{content}]"
    interp.empty_code_output_template = "NOTHING"
    interp.code_output_sender = "assistant"
    llm.queue("```shell\necho x\n```", "```shell\ntrue\n```", "ok")
    interp.chat("go", display=False)
    messages = llm.requests[-1]["messages"]
    assert messages[1] == {"role": "user", "content": "<<go>>"}
    text = json.dumps(messages)
    assert "OUT[x\\n]" in text and "NOTHING" in text
    assert all(m["role"] != "user" or m["content"] == "<<go>>" for m in messages[1:])


def test_max_output_truncates_what_the_model_sees_and_says_so(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.llm.max_output = 200
    llm.queue("```shell\nseq 1 20000\n```", "ok")
    interp.chat("count", display=False)
    seen = llm.requests[-1]["messages"][-1]["content"]
    assert "Output truncated" in seen and len(seen) < 600
    assert interp.messages[-2]["content"].startswith("1\n2\n3\n")  # the conversation keeps the real output


def test_context_window_trimming_keeps_system_and_newest(make_interpreter, llm) -> None:
    interp = make_interpreter()
    interp.llm.context_window = 1200
    interp.llm.max_tokens = 200
    interp.messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "type": "message", "content": f"message {i} " + "word " * 80}
        for i in range(40)
    ]
    llm.queue("ok")
    interp.chat("newest question", display=False)
    sent = llm.requests[-1]["messages"]
    assert sent[0]["role"] == "system"
    assert sent[-1]["content"] == "newest question"
    assert "message 0 " not in json.dumps(sent)
    assert len(sent) < 20


def test_loop_mode_continues_until_a_breaker(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True, loop=True)
    llm.queue("Working on it.", "Still going.", "The task is done.")
    interp.chat("do the task", display=False)
    assert len(llm.requests) == 3
    assert interp.messages[-1]["content"] == "The task is done."
    assert llm.requests[1]["messages"][-1]["content"].startswith("Keep going")


def test_max_budget_stops_before_exceeding(make_interpreter, llm) -> None:
    from oi_core.errors import BudgetExceeded

    interp = make_interpreter()
    interp.llm.model = "gpt-4o"  # priced in litellm's local cost map
    interp.llm.api_base = llm.url
    interp.max_budget = 0.00001
    with pytest.raises(BudgetExceeded, match="Budget reached"):
        interp.chat("hello " * 50, display=False)
    assert llm.requests == []


def test_cost_is_accumulated_and_published(make_interpreter, llm) -> None:
    from oi_core.events import CostUpdated

    interp = make_interpreter()
    interp.llm.model = "gpt-4o"
    seen = []
    interp.bus.on(CostUpdated, seen.append)
    llm.queue(Reply(text="hi", prompt_tokens=1000, completion_tokens=100))
    interp.chat("hi", display=False)
    assert interp.total_cost == pytest.approx(0.0035, rel=0.01)
    assert seen and seen[-1].total_cost == interp.total_cost


def test_telemetry_setting_is_accepted_and_there_is_nothing_to_send(make_interpreter) -> None:
    interp = make_interpreter(disable_telemetry=True)
    assert interp.anonymized_telemetry is False


async def test_async_streaming_api(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue("```shell\necho async\n```", "done")
    seen_output = []
    async for chunk in interp.achat("go"):
        if chunk.get("format") == "output":
            seen_output.append(chunk["content"])
    assert "".join(seen_output) == "async\n"
    await interp.computer.aterminate()


async def test_async_approver_can_edit_the_code(make_interpreter, llm) -> None:
    interp = make_interpreter()
    llm.queue("```shell\necho original\n```", "ok")

    async def approve(language, code):
        assert code == "echo original"
        return "echo edited"

    out = [c async for c in interp.achat("go", approve=approve)]
    assert "".join(c["content"] for c in out if c.get("format") == "output") == "edited\n"
    code = [m for m in interp.messages if m["type"] == "code"]
    assert code[0]["content"] == "echo edited"  # the model sees what really ran
    assert "echo edited" in json.dumps(llm.requests[-1]["messages"])
    await interp.computer.aterminate()


def test_unsupported_language_is_reported_to_the_model(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.computer.languages = [interp.computer.terminal.languages[-1]]  # shell only
    llm.queue("```python\nprint(1)\n```", "ok")
    interp.chat("go", display=False)
    # with only shell available a python fence is prose, not code
    assert all(m["type"] != "code" for m in interp.messages)


async def test_request_is_built_off_the_event_loop(make_interpreter, llm, tmp_path, monkeypatch) -> None:
    import threading

    from oi_core import convert

    picture = tmp_path / "shot.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    threads = []
    read_image = convert.image_data_url

    def image_data_url(message):
        threads.append(threading.current_thread())
        return read_image(message)

    monkeypatch.setattr(convert, "image_data_url", image_data_url)
    interp = make_interpreter()
    interp.llm.supports_vision = True
    llm.queue("A picture.")
    [c async for c in interp.achat([{"type": "image", "format": "path", "content": str(picture)}])]
    assert threads and threading.main_thread() not in threads, "reading image files would freeze the UI"
