"""Turns the LMC conversation into the OpenAI-style messages a model reads.

Both steps cost what is new, not how long the conversation has grown: the converted form of the messages up to
the newest user message is kept per interpreter (`_Converted`) and reused while those messages are the same
objects with the same content, and trimming walks from the newest message back only as far as the window goes.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import operator
import weakref
from itertools import islice, repeat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import llm_lean
from .llm import EXECUTE_TOOL_NAME, rough_size

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

NO_VISION_NOTE = "[An image was here, but this model cannot see images.]"
DECLINED = "The user declined to run this code."


def truncate_output(text: str, limit: int) -> str:
    """Keep the head and the tail of long output and say how much was cut (the model must know)."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return (
        text[:head]
        + f"\n[Output truncated: showing the first {head:,} and last {tail:,} of {len(text):,} characters.]\n"
        + text[-tail:]
    )


def image_data_url(message: dict[str, Any]) -> str | None:
    """A data: URL for an LMC image message, whatever its format."""
    fmt = message.get("format") or "base64"
    content = message.get("content") or ""
    if fmt == "path":
        path = Path(str(content)).expanduser()
        try:
            data = path.read_bytes()
        except OSError:
            return None
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode()}"
    if str(content).startswith("data:"):
        return str(content)
    mime = "image/jpeg" if fmt.endswith("jpeg") or fmt.endswith("jpg") else "image/png"
    return f"data:{mime};base64,{content}"


def code_fence(language: str, code: str) -> str:
    return f"```{language}\n{code}\n```"


@dataclass(frozen=True)
class _Converted:
    """The converted form of an interpreter's first messages, and the converter's state after them."""

    settings: tuple[Any, ...]
    sources: tuple[dict[str, Any], ...]  # the LMC messages converted (the very objects)
    contents: tuple[Any, ...]  # their content when converted (an edit in place is seen)
    out: tuple[dict[str, Any], ...]  # what they became (never changed afterwards: merging makes a new dict)
    pending_call: str | None
    last_code: dict[str, Any] | None


_converted: "weakref.WeakKeyDictionary[Any, _Converted]" = weakref.WeakKeyDictionary()


def _reusable(cached: _Converted | None, settings: tuple[Any, ...], messages: list[dict[str, Any]]) -> bool:
    if cached is None or cached.settings != settings or len(messages) < len(cached.sources):
        return False
    head = messages[: len(cached.sources)]  # compared at C speed: this runs for every request
    return (all(map(operator.is_, head, cached.sources))
            and all(map(operator.is_, map(dict.get, head, repeat("content")), cached.contents)))


def to_llm_messages(interpreter: "OpenInterpreter", system_message: str) -> list[dict[str, Any]]:
    """Build the request messages: system prompt, then the conversation in the model's dialect."""
    from .approval import output_preface  # approval builds on this module
    functions = interpreter.llm.uses_functions()
    vision = interpreter.llm.uses_vision()
    limit = interpreter.llm.max_output
    messages = interpreter.messages
    settings = (functions, vision, limit, interpreter.code_output_sender, interpreter.code_output_template,
                interpreter.empty_code_output_template, interpreter.user_message_template,
                interpreter.always_apply_user_message_template)
    last_user = next((i for i in range(len(messages) - 1, -1, -1)
                      if messages[i].get("role") == "user" and messages[i].get("type") == "message"), -1)
    pending_call: str | None = None
    last_code: dict[str, Any] | None = None  # the code block whose output comes next (edits are told with it)
    out: list[dict[str, Any]] = [{"role": "system", "content": system_message}]
    start = 0
    cached = _converted.get(interpreter)
    if _reusable(cached, settings, messages):
        assert cached is not None
        out.extend(cached.out)
        start, pending_call, last_code = len(cached.sources), cached.pending_call, cached.last_code
    keep_at = max(last_user, start)  # messages before the newest user message convert the same way next time

    def add(role: str, content: Any, **extra: Any) -> None:
        previous = out[-1] if len(out) > 1 else None
        mergeable = previous is not None and previous["role"] == role and role in ("user", "assistant")
        if mergeable and "tool_calls" not in previous and not extra:
            if isinstance(previous["content"], str) and isinstance(content, str):
                merged: Any = f"{previous['content']}\n\n{content}" if previous["content"] else content
            else:
                merged = _as_parts(previous["content"]) + _as_parts(content)
            out[-1] = {**previous, "content": merged}  # a new dict: the kept form stays as it was
            return
        out.append({"role": role, "content": content, **extra})

    def close_call(result: str) -> None:
        nonlocal pending_call
        if pending_call is not None:
            out.append({"role": "tool", "tool_call_id": pending_call, "name": EXECUTE_TOOL_NAME, "content": result})
            pending_call = None

    for index in range(start, len(messages)):
        if index == keep_at and index > start:
            _converted[interpreter] = _Converted(
                settings, tuple(messages[:index]), tuple(map(dict.get, messages[:index], repeat("content"))),
                tuple(out[1:]), pending_call, last_code)
        message = messages[index]
        role, kind = message.get("role"), message.get("type")
        content = message.get("content")
        if role == "computer" and kind == "console" and message.get("format", "output") == "output":
            text = truncate_output(str(content or ""), limit)
            if message.get("not_run"):  # a note about code that did not run, not program output
                last_code = None
                if pending_call is not None:
                    close_call(text)
                else:
                    add(interpreter.code_output_sender, text)
                continue
            preface = output_preface(last_code)
            last_code = None
            if pending_call is not None:
                result = text if text.strip() else "The code ran and printed nothing."
                close_call(f"{preface}\n\n{result}" if preface else result)
                continue
            if text.strip() == DECLINED:
                body = DECLINED
            elif text.strip():
                body = interpreter.code_output_template.replace("{content}", text)
            else:
                body = interpreter.empty_code_output_template
            add(interpreter.code_output_sender, f"{preface}\n\n{body}" if preface else body)
            continue
        if role == "computer" and kind == "console":
            continue  # active_line chunks are never stored, but be safe
        if pending_call is not None:
            close_call("The code ran and printed nothing.")
        if kind == "image":
            url = image_data_url(message)
            target = "user"
            if vision and url:
                add(target, [{"type": "image_url", "image_url": {"url": url}}])
            else:
                add(target, NO_VISION_NOTE)
            continue
        if kind == "code":
            language = message.get("format") or ""
            code = str(content or "")
            last_code = message if role == "assistant" else last_code
            if role == "computer":  # e.g. html produced by a run
                add(interpreter.code_output_sender, f"The code produced {language}:\n{code_fence(language, code)}")
            elif functions:
                call_id = f"call_{index}"
                arguments = json.dumps({"language": language, "code": code})
                out.append(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": call_id, "type": "function", "function": {"name": EXECUTE_TOOL_NAME, "arguments": arguments}}
                        ],
                    }
                )
                pending_call = call_id
            else:
                add("assistant", code_fence(language, code))
            continue
        if kind in ("message", None) and role in ("user", "assistant"):
            text = str(content or "")
            if role == "user" and (index == last_user or interpreter.always_apply_user_message_template):
                template = interpreter.user_message_template
                if template and "{content}" in template:
                    text = template.replace("{content}", text)
            add(role, text)
            continue
        if kind == "confirmation":
            continue
        add("user" if role == "computer" else str(role), str(content or ""))
    if pending_call is not None:
        close_call("The code ran and printed nothing.")
    return out


def _as_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": str(content or "")}]


def execute_tool(languages: list[str]) -> dict[str, Any]:
    """The single tool the model calls to run code."""
    return {
        "type": "function",
        "function": {
            "name": EXECUTE_TOOL_NAME,
            "description": "Run code on the user's machine and return its output. The user approves each run.",
            "parameters": {
                "type": "object",
                "properties": {
                    "language": {"type": "string", "enum": languages, "description": "The language of the code."},
                    "code": {"type": "string", "description": "The code to run."},
                },
                "required": ["language", "code"],
            },
        },
    }


@dataclass
class _Trimmed:
    """The last request trimmed for an interpreter, which the next one starts from."""

    key: tuple[Any, ...]  # model, whether litellm counts (else estimates), budget
    request: list[dict[str, Any]]  # the messages it was given
    rough: int  # rough size of request[1:]
    first: int | None  # index of the oldest message kept (None: not counted, it clearly fitted)
    kept: int  # tokens of request[first:]


_trimmed: "weakref.WeakKeyDictionary[Any, _Trimmed]" = weakref.WeakKeyDictionary()
#: Per interpreter: tokens by message object (kept converted forms come back as the same objects).
_counted: "weakref.WeakKeyDictionary[Any, tuple[Any, dict[int, tuple[dict[str, Any], int]]]]" = weakref.WeakKeyDictionary()


def _stable(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> int:
    """How many leading messages of `new` are the very objects at the same places in `old` (the system one aside)."""
    end = min(len(old), len(new))
    while end > 1 and old[end - 1] is not new[end - 1]:  # the end was converted again: usually a few messages
        end -= 1
    if all(map(operator.is_, islice(old, 1, end), islice(new, 1, end))):
        return end
    return next(i for i in range(1, end) if old[i] is not new[i])  # an older message was replaced


def trim_to_window(interpreter: "OpenInterpreter", messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop the oldest turns until the request fits the context window (system message and newest kept).

    Returns the messages to send and how many were left out: the longest run of whole turns (a message and
    the tool results after it) from the newest back that fits, at least the newest. The sizes and the place
    of the cut are kept from the last request, so a request costs what changed at its end, not how long the
    conversation has grown; each message is counted once.
    """
    llm = interpreter.llm
    window = llm.effective_context_window()
    reserve = int(llm.max_tokens or min(4096, window // 4))
    budget = max(window - reserve, 256)
    key = (llm.model, llm_lean.litellm_ready(), budget)
    last = _trimmed.get(interpreter)
    known = _counted.get(interpreter)
    counts = known[1] if known is not None and known[0] == key[:2] and len(known[1]) < 2 * len(messages) + 64 else {}
    _counted[interpreter] = (key[:2], counts)

    def tokens(message: dict[str, Any]) -> int:
        entry = counts.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        count = llm.message_tokens(message)
        counts[id(message)] = (message, count)
        return count

    def rough_of(part: list[dict[str, Any]]) -> int:
        return sum(_rough_size(m.get("content")) for m in part)

    end = len(messages)
    stable = _stable(last.request, messages) if last is not None and last.key == key else 0
    if last is not None and stable:  # start from the last request: take off its end, add this one's
        rough = last.rough - rough_of(last.request[stable:]) + rough_of(messages[stable:])
    else:
        rough = rough_of(messages[1:])
    if last is not None and stable and last.first is not None and last.first < stable:
        first = last.first
        kept = last.kept - sum(map(tokens, last.request[stable:])) + sum(map(tokens, messages[stable:]))
    else:
        first, kept = end, 0  # nothing kept yet: the newest turn first
    if (rough + _rough_size(messages[0].get("content"))) // 3 < budget // 2:
        _trimmed[interpreter] = _Trimmed(key, messages, rough, None, 0)
        return messages, 0  # clearly fits: skip exact counting
    system = messages[0]
    total = llm.request_tokens([system]) + kept
    while first > 1:  # older turns while they fit (the newest always)
        start = first - 1
        while start > 1 and messages[start]["role"] == "tool":
            start -= 1
        cost = sum(map(tokens, messages[start:first]))
        if first < end and total + cost > budget:
            break
        total += cost
        kept += cost
        first = start
    while total > budget:  # the window shrank or the newest turns grew: drop the oldest kept turns
        after = first + 1
        while after < end and messages[after]["role"] == "tool":
            after += 1
        if after >= end:
            break  # the newest turn alone: it goes, cut short below
        cost = sum(map(tokens, messages[first:after]))
        total -= cost
        kept -= cost
        first = after
    _trimmed[interpreter] = _Trimmed(key, messages, rough, first, kept)
    sent = messages[first:]
    if total > budget:
        sent = [_shrink(m, budget * 3) for m in sent]
    return [system] + sent, first - 1


def _rough_size(content: Any) -> int:
    if isinstance(content, str):
        return rough_size(content)
    return 0 if content is None else len(json.dumps(content))


def _shrink(message: dict[str, Any], chars: int) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str) and len(content) > chars:
        return {**message, "content": "[earlier part cut to fit the context window]\n" + content[-chars:]}
    return message
