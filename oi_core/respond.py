"""The respond loop: ask the model, stream its reply, get approval, run code, feed output back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from .computer.base import RunIO
from .convert import DECLINED, execute_tool, to_llm_messages, trim_to_window
from .errors import BudgetExceeded
from .events import CostUpdated
from .fences import Code, CodeEnd, CodeStart, FenceParser, Text
from .llm import Delta
from .system_message import build_system_message
from .tool_calls import ToolCall

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

#: Given (language, code), return the code to run (maybe edited) or None to skip.
Approver = Callable[[str, str], Awaitable[str | None]]

STORED_OUTPUT_LIMIT = 200_000  # characters of one run's output kept in the conversation
STOPPED_NOTE = "The user stopped this run."


class BoundedText:
    """Keeps the head and tail of a long stream of text in bounded memory, counting what was dropped."""

    def __init__(self, limit: int = STORED_OUTPUT_LIMIT) -> None:
        self.limit = limit
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0
        self.total = 0

    def add(self, text: str) -> None:
        self.total += len(text)
        if self.head_size < self.limit // 4:
            self.head.append(text)
            self.head_size += len(text)
            return
        self.tail.append(text)
        self.tail_size += len(text)
        if self.tail_size > self.limit * 2:
            joined = "".join(self.tail)[-self.limit :]
            self.tail, self.tail_size = [joined], len(joined)

    def text(self) -> str:
        head = "".join(self.head)
        tail = "".join(self.tail)
        kept_tail = tail[-(self.limit - len(head)) :] if len(head) + len(tail) > self.limit else tail
        dropped = self.total - len(head) - len(kept_tail)
        if dropped <= 0:
            return head + tail
        return head + f"\n[{dropped:,} characters of output not kept]\n" + kept_tail


class Responder:
    """One call to respond(): runs until the model stops asking for code (or the user stops it)."""

    def __init__(self, interpreter: "OpenInterpreter", approve: Approver | None, io: RunIO) -> None:
        self.interpreter = interpreter
        self.approve = approve
        self.io = io
        self.reason = "done"

    async def run(self) -> AsyncIterator[dict[str, Any]]:
        interp = self.interpreter
        loops = 0
        while not interp._stop_requested:
            pending: list[tuple[str, str, int]] = []
            async for chunk in self._generate(pending):
                yield chunk
            if interp._stop_requested:
                self.reason = "stopped"
                return
            if not pending:
                loops += 1
                if interp.loop and not self._loop_finished() and loops < interp.loop_max_turns:
                    interp._append({"role": "user", "type": "message", "content": interp.loop_message})
                    continue
                return
            language, code, index = pending[0]
            async for chunk in self._approve_and_run(language, code, index):
                yield chunk
            if self.reason in ("skipped", "stopped"):
                return

    def _loop_finished(self) -> bool:
        last = next((m for m in reversed(self.interpreter.messages) if m.get("role") == "assistant"), None)
        text = str(last.get("content") if last else "")
        return any(breaker in text for breaker in self.interpreter.loop_breakers)

    # ------------------------------------------------------------ the model's turn

    async def _generate(self, pending: list[tuple[str, str, int]]) -> AsyncIterator[dict[str, Any]]:
        interp = self.interpreter
        llm = interp.llm
        interp._set_status("thinking", llm.model)
        messages, tools = await asyncio.to_thread(self._request)
        await self._check_budget(messages)
        terminal = interp.computer.terminal
        parser = FenceParser(is_code=terminal.is_runnable)
        block: dict[str, Any] | None = None  # the block being streamed: {"type", "format", "parts"}
        calls: dict[int, ToolCall] = {}
        usage = Delta()
        completion_chars = 0
        stop_streaming = False

        def open_block(kind: str, fmt: str | None = None) -> dict[str, Any]:
            nonlocal block
            block = {"type": kind, "format": fmt, "parts": []}
            chunk = {"role": "assistant", "type": kind, "start": True}
            if fmt is not None:
                chunk["format"] = fmt
            return chunk

        def piece(content: str) -> dict[str, Any]:
            assert block is not None
            block["parts"].append(content)
            chunk = {"role": "assistant", "type": block["type"], "content": content}
            if block["format"] is not None:
                chunk["format"] = block["format"]
            return chunk

        def close_block() -> dict[str, Any] | None:
            nonlocal block
            if block is None:
                return None
            done, block = block, None
            message = {"role": "assistant", "type": done["type"], "content": "".join(done["parts"])}
            if done["format"] is not None:
                message["format"] = done["format"]
            index = interp._append(message)
            if done["type"] == "code":
                pending.append((message["format"], message["content"], index))
            end = {"role": "assistant", "type": done["type"], "end": True}
            if done["format"] is not None:
                end["format"] = done["format"]
            return end

        def translate(events: list[Any]) -> Iterator[dict[str, Any]]:
            nonlocal stop_streaming
            for event in events:
                if isinstance(event, Text):
                    if block is None or block["type"] != "message":
                        end = close_block()
                        if end:
                            yield end
                        yield open_block("message")
                    yield piece(event.content)
                elif isinstance(event, CodeStart):
                    end = close_block()
                    if end:
                        yield end
                    yield open_block("code", terminal_name(event.language))
                elif isinstance(event, Code):
                    yield piece(event.content)
                elif isinstance(event, CodeEnd):
                    end = close_block()
                    if end:
                        yield end
                    stop_streaming = True
                    return  # anything after the fence is dropped: the code runs first

        def terminal_name(language: str) -> str:
            runner = terminal.get_language(language)
            return runner.name if runner is not None else language

        try:
            async with aclosing(llm.stream(messages, tools)) as deltas:
                async for delta in deltas:
                    if delta.prompt_tokens is not None:
                        usage.prompt_tokens = delta.prompt_tokens
                    if delta.completion_tokens is not None:
                        usage.completion_tokens = delta.completion_tokens
                    if delta.content:
                        completion_chars += len(delta.content)
                        for chunk in translate(parser.feed(delta.content)):
                            yield chunk
                    for call_delta in delta.tool_calls:
                        call = calls.setdefault(call_delta.index, ToolCall())
                        call.add(call_delta.name, call_delta.arguments)
                        completion_chars += len(call_delta.arguments)
                        if call_delta.index != min(calls):
                            continue
                        code = call.code_so_far()
                        if call.language is None:
                            continue
                        if block is None or block["type"] != "code":
                            end = close_block()
                            if end:
                                yield end
                            yield open_block("code", terminal_name(call.language))
                        if len(code) > call.emitted:
                            yield piece(code[call.emitted :])
                            call.emitted = len(code)
                    if stop_streaming:
                        break  # run the first finished code block before the model says more
            if not stop_streaming:
                for chunk in translate(parser.close()):
                    yield chunk
                if calls and not pending:
                    call = calls[min(calls)]
                    language, code = call.finish()
                    if block is None or block["type"] != "code":
                        end = close_block()
                        if end:
                            yield end
                        yield open_block("code", terminal_name(language))
                    if len(code) > call.emitted:
                        yield piece(code[call.emitted :])
            end = close_block()
            if end:
                yield end
        finally:
            if block is not None:  # cancelled or failed mid-reply: keep what arrived, never run it
                kept = "".join(block["parts"])
                if kept:
                    message = {"role": "assistant", "type": "message" if block["type"] == "message" else "code",
                               "content": kept}
                    if block["format"] is not None:
                        message["format"] = block["format"]
                    interp._append(message)
                pending.clear()
            await self._account(messages, usage, completion_chars)

    def _request(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """The messages and tools to send; run in a thread, as it looks up runtimes, reads images and counts tokens."""
        interp = self.interpreter
        messages = trim_to_window(interp, to_llm_messages(interp, build_system_message(interp)))
        uses_functions = interp.llm.uses_functions()
        tools = [execute_tool(interp.computer.terminal.available_languages())] if uses_functions else None
        return messages, tools

    async def _check_budget(self, messages: list[dict[str, Any]]) -> None:
        interp = self.interpreter
        if not interp.max_budget:
            return
        prompt_tokens = await asyncio.to_thread(interp.llm.count_tokens, messages)
        estimate = interp.llm.cost(prompt_tokens, 0)
        if interp.total_cost + estimate > interp.max_budget:
            self.reason = "budget"
            raise BudgetExceeded(
                f"Budget reached: ${interp.total_cost:.4f} spent of ${interp.max_budget:.4f}, and the next "
                f"request to {interp.llm.model} would cost about ${estimate:.4f}. Raise max_budget to continue."
            )

    async def _account(self, messages: list[dict[str, Any]], usage: Delta, completion_chars: int) -> None:
        interp = self.interpreter
        if interp.llm.completions is not None and not interp.max_budget:
            return
        prompt_tokens = usage.prompt_tokens
        completion_tokens = usage.completion_tokens
        if prompt_tokens is None:
            prompt_tokens = await asyncio.to_thread(interp.llm.count_tokens, messages)
        if completion_tokens is None:
            completion_tokens = completion_chars // 4
        cost = interp.llm.cost(prompt_tokens, completion_tokens)
        interp.total_cost += cost
        interp.total_tokens += prompt_tokens + completion_tokens
        interp.bus.publish(CostUpdated(interp.total_cost, cost, prompt_tokens, completion_tokens))

    # ------------------------------------------------------------ the computer's turn

    async def _approve_and_run(self, language: str, code: str, index: int) -> AsyncIterator[dict[str, Any]]:
        interp = self.interpreter
        yield {
            "role": "computer",
            "type": "confirmation",
            "format": "execution",
            "content": {"type": "code", "format": language, "content": code},
        }
        if interp.auto_run:
            to_run: str | None = code
        elif self.approve is None:
            to_run = None
        else:
            interp._set_status("awaiting_approval", language)
            to_run = await self.approve(language, code)
        if to_run is None:
            self.reason = "skipped"
            message = {"role": "computer", "type": "console", "format": "output", "content": DECLINED}
            interp._append(message)
            yield {**message}
            return
        if to_run != code:
            interp.messages[index] = {**interp.messages[index], "content": to_run}
            interp._message_appended(interp.messages[index], index)
        interp._set_status("running", language)
        output = BoundedText()
        yield {"role": "computer", "type": "console", "start": True}
        try:
            async for chunk in interp.computer.arun(language, to_run, self.io):
                kind = chunk.get("type")
                if kind == "console" and chunk.get("format") == "output":
                    output.add(str(chunk.get("content") or ""))
                elif kind in ("image", "code") or (kind == "console" and chunk.get("format") not in ("active_line",)):
                    if kind == "image" and not interp.computer.emit_images:
                        continue
                    stored = {k: v for k, v in chunk.items() if k in ("role", "type", "format", "content")}
                    interp._append(stored)
                yield chunk
        finally:
            text = output.text()
            if interp._stop_requested:
                self.reason = "stopped"
                text = (text + ("\n" if text and not text.endswith("\n") else "") + STOPPED_NOTE)
            message = {"role": "computer", "type": "console", "format": "output", "content": text}
            interp._append(message)
        yield {"role": "computer", "type": "console", "format": "active_line", "content": None}
        yield {"role": "computer", "type": "console", "end": True}
