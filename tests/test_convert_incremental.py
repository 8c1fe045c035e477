"""Building a request costs what is new: the converted form of earlier messages is reused (and equals a conversion
from scratch, whatever changed), and trimming looks only at the newest messages that fit the window."""

from __future__ import annotations

import random
from typing import Any

import pytest

from oi_core import convert
from oi_core.convert import to_llm_messages, trim_to_window

SYSTEM = "You are a test."


def fresh(interp: Any) -> list[dict[str, Any]]:
    """The request converted from scratch (no kept form)."""
    kept = convert._converted.pop(interp, None)
    try:
        return to_llm_messages(interp, SYSTEM)
    finally:
        if kept is not None:
            convert._converted[interp] = kept


def turn(index: int, rng: random.Random) -> list[dict[str, Any]]:
    """One turn of a varied conversation: text, code, output (or a note that it did not run), images, html."""
    out: list[dict[str, Any]] = [{"role": "user", "type": "message", "content": f"question {index}"}]
    kind = rng.choice(["code", "code", "text", "image", "declined", "edited", "html"])
    if kind == "text":
        out.append({"role": "assistant", "type": "message", "content": f"answer {index}"})
        return out
    if kind == "image":
        out.append({"role": "user", "type": "image", "format": "base64.png", "content": "aGVsbG8="})
        out.append({"role": "assistant", "type": "message", "content": "a picture"})
        return out
    out.append({"role": "assistant", "type": "message", "content": f"running {index}"})
    code = {"role": "assistant", "type": "code", "format": "python", "content": f"print({index})"}
    if kind == "edited":
        code = {**code, "content": f"print({index} + 1)", "edited": True, "original": f"print({index})"}
    out.append(code)
    if kind == "declined":
        out.append({"role": "computer", "type": "console", "format": "output", "content": "The user skipped it.",
                    "not_run": True})
        return out
    if kind == "html":
        out.append({"role": "computer", "type": "code", "format": "html", "content": "<b>hi</b>"})
    out.append({"role": "computer", "type": "console", "format": "output", "content": f"{index}\n" * rng.randint(0, 3)})
    out.append({"role": "assistant", "type": "message", "content": f"printed {index}"})
    return out


@pytest.mark.parametrize("functions", [True, False])
def test_each_request_equals_a_conversion_from_scratch_as_the_conversation_grows_and_changes(
        make_interpreter, functions) -> None:
    interp = make_interpreter()
    interp.llm.supports_functions = functions
    rng = random.Random(7)
    for index in range(60):
        for message in turn(index, rng):
            interp.messages.append(message)
            assert to_llm_messages(interp, SYSTEM) == fresh(interp)
        if index == 20:  # an old message replaced by a new dict (an undo marks a record), then edited in place
            code = next(i for i, m in enumerate(interp.messages) if m.get("type") == "code")
            interp.messages[code] = {**interp.messages[code], "checkpoint": {"undone": True}}
            assert to_llm_messages(interp, SYSTEM) == fresh(interp)
            interp.messages[1]["content"] = "changed in place"
            assert to_llm_messages(interp, SYSTEM) == fresh(interp)
        if index == 30:  # rewound: the conversation is shorter
            del interp.messages[len(interp.messages) // 2:]
            assert to_llm_messages(interp, SYSTEM) == fresh(interp)
        if index == 40:  # a setting that changes how every message reads
            interp.always_apply_user_message_template = True
            interp.user_message_template = "<<{content}>>"
            assert to_llm_messages(interp, SYSTEM) == fresh(interp)
    interp.messages = [dict(m) for m in interp.messages]  # a resumed conversation: all new objects
    assert to_llm_messages(interp, SYSTEM) == fresh(interp)


def test_a_new_turn_converts_only_its_own_messages(make_interpreter, monkeypatch) -> None:
    interp = make_interpreter()
    interp.llm.supports_functions = True
    rng = random.Random(3)
    for index in range(250):
        interp.messages.extend(turn(index, rng))
    to_llm_messages(interp, SYSTEM)
    converted: list[str] = []
    real = convert.truncate_output

    def counting(text: str, limit: int) -> str:
        converted.append(text)
        return real(text, limit)

    monkeypatch.setattr(convert, "truncate_output", counting)  # called once per run output converted
    interp.messages.extend(turn(250, random.Random(1)))
    interp.messages.append({"role": "user", "type": "message", "content": "and now?"})
    to_llm_messages(interp, SYSTEM)
    assert len(converted) <= 2, f"{len(converted)} outputs converted again for one new turn"


def old_trim(interp: Any, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The former whole-conversation trimming, as the reference for what is kept."""
    llm = interp.llm
    window = llm.effective_context_window()
    budget = max(window - int(llm.max_tokens or min(4096, window // 4)), 256)
    if sum(convert._rough_size(m.get("content")) for m in messages) // 3 < budget // 2:
        return messages, 0
    system, rest = messages[0], messages[1:]
    groups: list[list[dict[str, Any]]] = []
    for message in rest:
        if message["role"] == "tool" and groups:
            groups[-1].append(message)
        else:
            groups.append([message])
    total = llm.request_tokens([system])
    first = len(groups)
    while first > 0:
        cost = sum(llm.message_tokens(m) for m in groups[first - 1])
        if first < len(groups) and total + cost > budget:
            break
        total += cost
        first -= 1
    kept = [m for group in groups[first:] for m in group]
    if len(groups) - first == 1 and total > budget:
        kept = [convert._shrink(m, budget * 3) for m in kept]
    return [system] + kept, sum(len(group) for group in groups[:first])


@pytest.mark.parametrize("window", [600, 2000, 8000, 100_000])
def test_trimming_keeps_what_it_kept_before_and_looks_only_at_what_fits(make_interpreter, monkeypatch,
                                                                       window) -> None:
    interp = make_interpreter()
    interp.llm.supports_functions = True
    interp.llm.context_window = window
    interp.llm.max_tokens = 200
    rng = random.Random(window)
    for index in range(600):
        interp.messages.extend(turn(index, rng))
    interp.messages.append({"role": "tool", "tool_call_id": "x", "name": "execute", "content": "late"})
    request = to_llm_messages(interp, SYSTEM)
    request.insert(1, {"role": "tool", "tool_call_id": "y", "name": "execute", "content": "leading"})
    assert trim_to_window(interp, request) == old_trim(interp, request)
    looked: list[int] = []
    real = convert._rough_size
    monkeypatch.setattr(convert, "_rough_size", lambda content: looked.append(1) or real(content))
    sent, left_out = trim_to_window(interp, request)
    if window < 100_000:
        assert left_out > 0
        assert len(looked) <= 2 * len(sent) + 20, "the rough size of the whole conversation was taken"


def test_the_next_request_counts_only_its_new_messages(make_interpreter, monkeypatch) -> None:
    interp = make_interpreter()
    interp.llm.supports_functions = True
    interp.llm.context_window = 4000
    interp.llm.max_tokens = 200
    rng = random.Random(5)
    for index in range(300):
        interp.messages.extend(turn(index, rng))
    sent, left_out = trim_to_window(interp, to_llm_messages(interp, SYSTEM))
    assert left_out > 0 and len(sent) > 40
    counted: list[dict[str, Any]] = []
    real = interp.llm.message_tokens
    monkeypatch.setattr(interp.llm, "message_tokens", lambda message: counted.append(message) or real(message))
    looked: list[int] = []
    rough = convert._rough_size
    monkeypatch.setattr(convert, "_rough_size", lambda content: looked.append(1) or rough(content))
    interp.messages.extend(turn(300, random.Random(2)))
    trim_to_window(interp, to_llm_messages(interp, SYSTEM))
    assert len(counted) <= 20, f"{len(counted)} messages counted again for one new turn"
    assert len(looked) <= 20, f"the size of {len(looked)} messages taken again for one new turn"


def test_request_after_request_the_cut_is_where_trimming_from_scratch_puts_it(make_interpreter) -> None:
    interp = make_interpreter()
    interp.llm.supports_functions = True
    interp.llm.context_window = 3000
    interp.llm.max_tokens = 200
    rng = random.Random(11)
    for index in range(320):
        interp.messages.extend(turn(index, rng))
        if index == 100:
            interp.llm.context_window = 6000  # a bigger window: older turns come back
        if index == 150:
            interp.llm.context_window = 1500  # a smaller one
        if index == 200:  # a kept message replaced by a longer one
            interp.messages[-12] = {**interp.messages[-12], "content": "long " * 400}
        if index == 220:  # the newest turn alone is over the window
            interp.messages.append({"role": "user", "type": "message", "content": "huge " * 3000})
        if index == 240:  # rewound
            del interp.messages[len(interp.messages) // 2:]
        if index == 260:
            interp.llm.model = "openai/another-model"
        request = to_llm_messages(interp, SYSTEM)
        assert trim_to_window(interp, request) == old_trim(interp, request), f"turn {index}"


def test_the_newest_turn_goes_even_alone_over_the_window_cut_short(make_interpreter) -> None:
    interp = make_interpreter()
    interp.llm.context_window = 1000
    interp.llm.max_tokens = 200
    interp.messages = [{"role": "user", "type": "message", "content": "old " * 50},
                       {"role": "user", "type": "message", "content": "huge " * 3000}]
    request = to_llm_messages(interp, SYSTEM)
    sent, left_out = trim_to_window(interp, request)
    assert (sent, left_out) == old_trim(interp, request)
    assert left_out == 0 and len(sent) == 2 and sent[1]["content"].startswith("[earlier part cut")
