"""Tool-call arguments: the code shown while streaming, the code that runs and the code stored are identical."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oi_core.surrogates import SurrogateJoiner
from oi_core.tool_calls import ToolCall
from tests.llm_server import Reply

#: Characters models put in code that JSON transport tends to mangle.
TRICKY = ["a", "b", " ", "\t", "\n", "\r\n", "é", "ü", "中", "😀", "\\", "\\u00e9", "\\n", '"', "'", "u", "0", "d", "{", "}"]


def model_json(language: str, code: str) -> str:
    """Arguments as a sloppy model writes them: quotes and backslashes escaped, control characters raw."""
    body = code.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{"language": "{language}", "code": "{body}"}}'


ENCODINGS = {
    "ascii": lambda language, code: json.dumps({"language": language, "code": code}),
    "utf8": lambda language, code: json.dumps({"language": language, "code": code}, ensure_ascii=False),
    "raw-controls": model_json,
}


def stream_code(pieces: list[str]) -> tuple[str, str, str]:
    """Feed argument deltas as respond does; return (language, code shown in chunks, code finally stored)."""
    call = ToolCall()
    call.add("execute", "")
    shown: list[str] = []
    for piece in pieces:
        call.add(None, piece)
        code = call.code_so_far()
        if call.language is None:
            continue
        assert code.startswith("".join(shown)), "streamed code never changes what was already shown"
        if len(code) > call.emitted:
            shown.append(code[call.emitted :])
            call.emitted = len(code)
    language, final = call.finish()
    if len(final) > call.emitted:
        shown.append(final[call.emitted :])
    return language, "".join(shown), final


def cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c for c in cuts if 0 < c < len(text)})
    return [text[a:b] for a, b in zip([0] + points, points + [len(text)])]


@settings(max_examples=300, deadline=None)
@given(
    code=st.lists(st.sampled_from(TRICKY), max_size=30).map("".join),
    encoding=st.sampled_from(sorted(ENCODINGS)),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=40),
)
def test_shown_and_stored_code_are_the_code_however_it_is_chunked(code, encoding, cuts) -> None:
    arguments = ENCODINGS[encoding]("python", code)
    language, shown, stored = stream_code(cut(arguments, cuts))
    assert language == "python"
    assert stored == code
    assert shown == code


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=80), max_size=30))
def test_an_escaped_surrogate_pair_is_never_split(cuts) -> None:
    arguments = '{"language": "python", "code": "print(\\"\\ud83d\\ude00 \\ud83c\\udf89\\")"}'
    _, shown, stored = stream_code(cut(arguments, cuts))
    assert stored == shown == 'print("😀 🎉")'


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    _, shown, stored = stream_code(['{"language": "python", "code": "a\\ud83dX\\udc00"}'])
    assert stored == shown == "a\ufffdX\ufffd"
    stored.encode("utf-8")  # always encodable: the kernel, autosave and the next request accept it


def test_a_language_named_tool_with_raw_code() -> None:
    call = ToolCall()
    call.add("python", "print('caf")
    call.add(None, "é\t')")
    assert call.finish() == ("python", "print('café\t')")


def test_joiner_rejoins_pairs_split_across_pieces() -> None:
    joiner = SurrogateJoiner()
    out = joiner.feed("a\ud83d") + joiner.feed("\ude00b\ud83d") + joiner.feed("c") + joiner.close()
    assert out == "a😀b\ufffdc"
    assert joiner.feed("\udbff") == "" and joiner.close() == "\ufffd"


# ---------------------------------------------------------------- end to end: server, litellm, kernel

#: The last line prints a hash of the cell exactly as the kernel received it.
KERNEL_CHECK = (
    "import hashlib as _h; "
    "print('RECEIVED', _h.sha256(get_ipython().history_manager.input_hist_raw[-1].encode('utf-8')).hexdigest())"
)


def payload_code() -> str:
    payload = "tab\there, café, 中文, 😀, back\\slash, \\u00e9 literal, quote \" and '\r\nnext line"
    return "\n".join("# " + line for line in payload.split("\n")) + "\n" + KERNEL_CHECK


def check_turn(interp, code: str) -> None:
    stored = next(m for m in interp.messages if m["type"] == "code")
    assert stored["content"] == code
    output = next(m for m in interp.messages if m.get("format") == "output")["content"]
    assert f"RECEIVED {hashlib.sha256(code.encode('utf-8')).hexdigest()}" in output, output


@pytest.mark.timeout(180)  # a split pair used to hang the run for ever: fail instead of stalling the suite
@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_tool_call_code_reaches_the_kernel_byte_identical(make_interpreter, llm, size, encoding) -> None:
    code = payload_code()
    interp = make_interpreter(auto_run=True)
    interp.llm.supports_functions = True
    arguments = ENCODINGS[encoding]("python", code)
    llm.queue(Reply(tool_arguments=cut(arguments, list(range(size, len(arguments), size)))), "Done.")
    chunks = list(interp.chat("go", display=False, stream=True))
    shown = "".join(c["content"] for c in chunks if c["role"] == "assistant" and c["type"] == "code" and "content" in c)
    assert shown == code
    check_turn(interp, code)


@pytest.mark.timeout(180)
def test_emoji_escape_pair_split_across_deltas_runs_and_saves(make_interpreter, llm, data_dir) -> None:
    code = "# 😀\n" + KERNEL_CHECK
    arguments = json.dumps({"language": "python", "code": code})  # the emoji as \ud83d\ude00
    split = arguments.index("\\ude00")
    interp = make_interpreter(auto_run=True, conversation_history=True)
    interp.llm.supports_functions = True
    interp.llm.request_timeout = 30
    llm.queue(Reply(tool_arguments=[arguments[:split], arguments[split:]]), "Done.")
    interp.chat("go", display=False)
    check_turn(interp, code)
    assert "😀" in saved_text(data_dir, interp)


def saved_text(data_dir, interp) -> str:
    path = data_dir / f"{interp.conversation_id}.json"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and "Done." in path.read_text(encoding="utf-8"):
            break
        time.sleep(0.05)
    return path.read_text(encoding="utf-8")


@pytest.mark.timeout(180)
def test_surrogate_pair_split_by_the_provider_in_text_and_arguments(make_interpreter, llm, data_dir) -> None:
    """The SSE events themselves carry half a pair each: joined at the boundary, never lone."""
    code = "# 😀\n" + KERNEL_CHECK
    arguments = json.dumps({"language": "python", "code": code}, ensure_ascii=False)
    at = arguments.index("😀")
    halves = [arguments[:at] + "\ud83d", "\ude00" + arguments[at + 1 :]]
    interp = make_interpreter(auto_run=True, conversation_history=True)
    interp.llm.supports_functions = True
    llm.queue(Reply(text_pieces=["Party \ud83c", "\udf89 time"], tool_arguments=halves), "Bye \ud83d Done.")
    interp.chat("go", display=False)
    check_turn(interp, code)
    replies = [m["content"] for m in interp.messages if m["role"] == "assistant" and m["type"] == "message"]
    assert replies == ["Party 🎉 time", "Bye \ufffd Done."]
    assert "Party 🎉 time" in saved_text(data_dir, interp)
    llm.queue("Still fine.")
    assert interp.chat("and now?", display=False)[-1]["content"] == "Still fine."
    json.dumps(llm.requests[-1]["messages"], ensure_ascii=False).encode("utf-8")
