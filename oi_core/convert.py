"""Turns the LMC conversation into the OpenAI-style messages a model reads."""

from __future__ import annotations

import base64
import json
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .llm import EXECUTE_TOOL_NAME

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


def to_llm_messages(interpreter: "OpenInterpreter", system_message: str) -> list[dict[str, Any]]:
    """Build the request messages: system prompt, then the conversation in the model's dialect."""
    from .approval import output_preface  # approval builds on this module
    functions = interpreter.llm.uses_functions()
    vision = interpreter.llm.uses_vision()
    limit = interpreter.llm.max_output
    messages = interpreter.messages
    out: list[dict[str, Any]] = [{"role": "system", "content": system_message}]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user" and m.get("type") == "message"), default=-1)
    pending_call: str | None = None
    last_code: dict[str, Any] | None = None  # the code block whose output comes next (edits are told with it)

    def add(role: str, content: Any, **extra: Any) -> None:
        previous = out[-1] if len(out) > 1 else None
        mergeable = previous is not None and previous["role"] == role and role in ("user", "assistant")
        if mergeable and "tool_calls" not in previous and not extra:
            if isinstance(previous["content"], str) and isinstance(content, str):
                previous["content"] = f"{previous['content']}\n\n{content}" if previous["content"] else content
                return
            previous["content"] = _as_parts(previous["content"]) + _as_parts(content)
            return
        out.append({"role": role, "content": content, **extra})

    def close_call(result: str) -> None:
        nonlocal pending_call
        if pending_call is not None:
            out.append({"role": "tool", "tool_call_id": pending_call, "name": EXECUTE_TOOL_NAME, "content": result})
            pending_call = None

    for index, message in enumerate(messages):
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


def trim_to_window(interpreter: "OpenInterpreter", messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop the oldest turns until the request fits the context window (system message and newest kept).

    Returns the messages to send and how many were left out. Turns are counted from the newest back until
    the window is full, so the cost follows what is sent, not how long the conversation has grown; each
    message's count is remembered by the llm, so a message is tokenized once.
    """
    llm = interpreter.llm
    window = llm.effective_context_window()
    reserve = int(llm.max_tokens or min(4096, window // 4))
    budget = max(window - reserve, 256)
    rough = sum(_rough_size(m.get("content")) for m in messages) // 3
    if rough < budget // 2:
        return messages, 0  # clearly fits: skip exact counting
    system, rest = messages[0], messages[1:]
    groups: list[list[dict[str, Any]]] = []
    for message in rest:
        if message["role"] == "tool" and groups:
            groups[-1].append(message)
        else:
            groups.append([message])
    total = llm.request_tokens([system])
    first = len(groups)
    while first > 0:  # the newest turn always goes; older ones while they fit
        cost = sum(llm.message_tokens(m) for m in groups[first - 1])
        if first < len(groups) and total + cost > budget:
            break
        total += cost
        first -= 1
    kept = [m for group in groups[first:] for m in group]
    if len(groups) - first == 1 and total > budget:
        kept = [_shrink(m, budget * 3) for m in kept]
    return [system] + kept, sum(len(group) for group in groups[:first])


def _rough_size(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return 0 if content is None else len(json.dumps(content))


def _shrink(message: dict[str, Any], chars: int) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str) and len(content) > chars:
        return {**message, "content": "[earlier part cut to fit the context window]\n" + content[-chars:]}
    return message
