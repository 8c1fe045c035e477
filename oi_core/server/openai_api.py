"""`POST /openai/chat/completions`: one interpreter turn as an OpenAI chat completion (streamed as SSE or whole).

Each request is its own conversation (an interpreter made like a session's, saved like any other): the
request's messages are its history, the last user message starts the turn. Nobody can approve code over
this endpoint, so code runs only where the server's settings run it without asking (auto-run); otherwise
the model is told it was declined. Code and its output are part of the reply as fenced blocks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..approval import Decision, PendingCode
from ..errors import OiError
from ..events import CostUpdated
from .wire import dumps

if TYPE_CHECKING:
    from .app import Server


class RequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


DECLINE_REASON = ("code cannot be approved through the OpenAI-compatible endpoint, and auto-run is off on this "
                  "server; answer without running code")


def _decliner() -> Any:
    """Nobody can approve over this endpoint: the model hears why once and answers in words; a second block ends it."""
    declined = []

    async def decline(pending: PendingCode) -> Decision:
        declined.append(pending.request_id)
        return Decision("skip", reason=DECLINE_REASON if len(declined) == 1 else "")

    return decline


def lmc_history(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(earlier LMC messages, the new user input, system text) from OpenAI-style messages."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("`messages` must be a non-empty list.")
    history: list[dict[str, Any]] = []
    system: list[str] = []
    for number, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{number}] is not an object.")
        role = message.get("role")
        items = _content_items(message.get("content"), number, "user" if role == "user" else "assistant")
        if role in ("system", "developer"):
            system.extend(str(item["content"]) for item in items if item["type"] == "message")
        elif role in ("user", "assistant"):
            history.extend(items)
        elif role == "tool":
            continue
        else:
            raise RequestError(f"messages[{number}] has an unknown role {role!r}.")
    cut = len(history)
    while cut > 0 and history[cut - 1]["role"] == "user":
        cut -= 1
    if cut == len(history):
        raise RequestError("The last message must come from the user.")
    return history[:cut], history[cut:], "\n\n".join(system)


def _content_items(content: Any, number: int, role: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"role": role, "type": "message", "content": content}]
    if not isinstance(content, list):
        raise RequestError(f"messages[{number}].content must be text or a list of parts.")
    items = []
    for part in content:
        if not isinstance(part, dict):
            raise RequestError(f"messages[{number}] has a content part that is not an object.")
        if part.get("type") == "text":
            items.append({"role": role, "type": "message", "content": str(part.get("text") or "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if not isinstance(url, str) or not url.startswith("data:"):
                raise RequestError("Images must be sent as data: URLs (the server does not fetch web addresses).")
            items.append({"role": role, "type": "image", "format": "base64", "content": url})
        else:
            raise RequestError(f"Unsupported content part type {part.get('type')!r}.")
    return items


class ReplyText:
    """Turns the turn's LMC chunks into the text of one assistant reply (code and output fenced)."""

    def __init__(self) -> None:
        self.output_open = False

    def render(self, chunk: dict[str, Any]) -> str:
        role, kind, content = chunk.get("role"), chunk.get("type"), chunk.get("content")
        if role == "assistant" and kind == "message":
            return content if isinstance(content, str) else ""
        if role == "assistant" and kind == "code":
            if chunk.get("start"):
                return f"\n\n```{chunk.get('format') or ''}\n"
            if chunk.get("end"):
                return "\n```\n\n"
            return content if isinstance(content, str) else ""
        if role == "computer" and kind == "console":
            if chunk.get("not_run"):
                return f"_{content}_\n\n"
            if chunk.get("end"):
                if self.output_open:
                    self.output_open = False
                    return "\n```\n\n"
                return ""
            if chunk.get("format") == "output" and isinstance(content, str) and content:
                prefix = "" if self.output_open else "```output\n"
                self.output_open = True
                return prefix + content
        return ""


class OpenAIEndpoint:
    def __init__(self, server: "Server") -> None:
        self.server = server

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        from .app import json_error

        refused = self.server.refusal(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "The body is not valid JSON.", "invalid_request_error")
        if not isinstance(body, dict):
            return json_error(400, "The body must be a JSON object.", "invalid_request_error")
        try:
            history, new_input, system = lmc_history(body.get("messages"))
        except RequestError as exc:
            return json_error(400, exc.message, "invalid_request_error")
        interpreter = self.server.new_interpreter()
        if system:
            interpreter.custom_instructions = "\n\n".join(filter(None, [interpreter.custom_instructions, system]))
        interpreter.load_messages(history)
        usage = {"prompt_tokens": 0, "completion_tokens": 0}

        def count(event: CostUpdated) -> None:
            usage["prompt_tokens"] += event.prompt_tokens
            usage["completion_tokens"] += event.completion_tokens

        interpreter.bus.on(CostUpdated, count)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = str(interpreter.llm.model)
        try:
            async with aclosing(self._pieces(interpreter, new_input)) as pieces:
                if body.get("stream"):
                    return await self._stream(request, pieces, completion_id, model, usage, body)
                return await self._whole(pieces, completion_id, model, usage)
        finally:
            await _shutdown(interpreter)

    async def _pieces(self, interpreter: Any, new_input: list[dict[str, Any]]) -> AsyncIterator[str]:
        reply = ReplyText()
        message: Any = new_input[0]["content"] if len(new_input) == 1 and new_input[0]["type"] == "message" \
            else new_input
        async for chunk in interpreter.achat(message, approve=_decliner()):
            text = reply.render(chunk)
            if text:
                yield text

    async def _whole(self, pieces: AsyncIterator[str], completion_id: str, model: str,
                     usage: dict[str, int]) -> web.Response:
        from .app import json_error

        parts: list[str] = []
        try:
            async for text in pieces:
                parts.append(text)
        except OiError as exc:
            return json_error(502, exc.message, "upstream_error")
        body = {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts).strip()},
                         "finish_reason": "stop"}],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }
        return web.json_response(body, dumps=dumps)

    async def _stream(self, request: web.Request, pieces: AsyncIterator[str], completion_id: str, model: str,
                      usage: dict[str, int], body: dict[str, Any]) -> web.StreamResponse:
        from .app import json_error

        created = int(time.time())

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {dumps(chunk)}\n\n".encode()

        iterator = pieces.__aiter__()
        try:  # the first piece decides the status: a failure before any text is an HTTP error
            first: str | None = await iterator.__anext__()
        except StopAsyncIteration:
            first = None
        except OiError as exc:
            return json_error(502, exc.message, "upstream_error")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(event({"role": "assistant", "content": ""}))
        try:
            if first is not None:
                await response.write(event({"content": first}))
                async for text in iterator:
                    await response.write(event({"content": text}))
        except OiError as exc:  # mid-stream: the SDK raises an APIError for an error event
            await response.write(f"data: {dumps({'error': {'message': exc.message, 'type': 'upstream_error'}})}\n\n"
                                 .encode())
            await response.write(b"data: [DONE]\n\n")
            return response
        await response.write(event({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            final = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [], "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}}
            await response.write(f"data: {dumps(final)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def _shutdown(interpreter: Any) -> None:
    """End the request's kernels and make sure its conversation is on disk."""
    try:
        await asyncio.shield(interpreter.computer.aterminate())
    except Exception:
        pass
    try:
        await asyncio.shield(interpreter.flush_autosave())
    except Exception:
        pass
