"""The respond loop: ask the model, stream its reply, get approval, run code, feed output back."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from . import approval
from .approval import Approver, Decision, PendingCode
from .checkpoints import ask_without_checkpoint
from .computer.base import RunIO
from .convert import execute_tool, to_llm_messages, trim_to_window
from .errors import BudgetExceeded
from .events import CodeAllowedByRule, CostUpdated, InfoShown
from .fences import Code, CodeEnd, CodeStart, FenceParser, Text, guess_language
from .llm import Delta
from .safety.types import ScanResult
from .system_message import build_system_message
from .tool_calls import ToolCall

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

STORED_OUTPUT_LIMIT = 200_000  # characters of one run's output kept in the conversation
STOPPED_NOTE = "The user stopped this run."
#: A runner's verdict on a run, as a console chunk format: content "error" when the code failed.
RUN_OUTCOME = "outcome"


class BoundedText:
    """Keeps the head and tail of a long stream of text in bounded memory, counting what was dropped.

    Whatever is added, and in pieces of any size, it holds at most `limit // 4` characters of head and
    `2 * limit` of tail (so 2.25 × 200,000 characters by default).
    """

    def __init__(self, limit: int = STORED_OUTPUT_LIMIT) -> None:
        self.limit = limit
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0
        self.total = 0

    def add(self, text: str) -> None:
        self.total += len(text)
        room = max(0, self.limit // 4 - self.head_size)
        if room:
            self.head.append(text[:room])
            self.head_size += min(room, len(text))
            if len(text) <= room:
                return
        if len(text) - room >= self.limit:  # what is left of this piece fills the tail by itself
            self.tail, self.tail_size = [text[-self.limit :]], self.limit
            return
        if room:
            text = text[room:]
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
        self.approve = as_approver(approve)  # None: whoever reads the stream approves by reading on
        self.io = io
        self.reason = "done"
        self.trimmed = 0  # messages the last request left out to fit the context window

    async def run(self) -> AsyncIterator[dict[str, Any]]:
        interp = self.interpreter
        loops = 0
        while not interp._stop_requested:
            pending: list[tuple[str, str, int]] = []
            async with aclosing(self._generate(pending)) as generated:  # closed at once if the reader stops
                async for chunk in generated:
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
            async with aclosing(self._approve_and_run(language, code, index)) as steps:
                async for chunk in steps:
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
        self._announce_trimming()
        await self._check_budget(messages)
        terminal = interp.computer.terminal
        parser = FenceParser(is_code=terminal.is_runnable, guess=guess_language)
        block: dict[str, Any] | None = None  # the block being streamed: {"type", "format", "parts"}
        calls: dict[int, ToolCall] = {}
        usage = Delta()
        completion_chars = 0
        stop_streaming = False
        cut_off = False  # the reply reached the token limit (finish_reason "length"): an open block is incomplete

        def open_block(kind: str, fmt: str | None = None, guessed: bool = False) -> dict[str, Any]:
            nonlocal block
            flags = {"language_guessed": True} if guessed else {}  # a fence without a language: we named it
            block = {"type": kind, "format": fmt, "parts": [], "flags": flags}
            chunk = {"role": "assistant", "type": kind, "start": True}
            if fmt is not None:
                chunk["format"] = fmt
            return {**chunk, **flags}

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
            if done["type"] == "code" and cut_off:
                message["incomplete"] = True
            message.update(done["flags"])
            index = interp._append(message)
            if done["type"] == "code":
                pending.append((message["format"], message["content"], index))
            end = {"role": "assistant", "type": done["type"], "end": True}
            if done["format"] is not None:
                end["format"] = done["format"]
            return {**end, **done["flags"]}

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
                    yield open_block("code", terminal_name(event.language), event.guessed)
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
                    if delta.finish_reason:
                        cut_off = delta.finish_reason == "length"
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

    def _announce_trimming(self) -> None:
        """Say once per conversation that old messages no longer reach the model (the transcript keeps them)."""
        interp = self.interpreter
        if not self.trimmed or interp.__dict__.get("_trim_announced_for") == interp.conversation_id:
            return
        interp._trim_announced_for = interp.conversation_id
        window = interp.llm.effective_context_window()
        interp.bus.publish(InfoShown(
            f"The conversation no longer fits {interp.llm.model}'s context window ({window:,} tokens): from now on "
            "the oldest messages are left out of each request. Everything stays in the transcript and the saved "
            "conversation.", title="Context window"))

    def _request(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """The messages and tools to send; run in a thread, as it looks up runtimes, reads images and counts tokens."""
        interp = self.interpreter
        messages, self.trimmed = trim_to_window(interp, to_llm_messages(interp, build_system_message(interp)))
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
        """Ask for approval (unless auto-run or an allow rule covers the block), then run exactly what was approved.

        Every way of not running is recorded for the model: a skip (with the user's reason), Esc, Stop,
        a fix request, cut-off code, and a reader that stopped reading at the confirmation chunk.
        """
        interp = self.interpreter
        pending = approval.prepare(interp, language, code, bool(interp.messages[index].get("incomplete")))
        decision: Decision | None = None
        try:
            rule = None
            if approval.needs_approval(interp, pending):
                if pending.scanning and approval.allow_rule_for(interp, pending, ignore_scan=True) is not None:
                    interp._set_status("thinking", "scanning the code")
                    await pending.final_scan()  # a rule may spare the question only once the scan found nothing
                rule = approval.allow_rule_for(interp, pending)
                asks = rule is None
            else:
                asks = False
            if not asks:
                yield pending.confirmation_chunk()
                decision = Decision("run", code)
                if rule is not None:
                    interp.bus.publish(CodeAllowedByRule(language, code, rule.to_dict(), approval.describe_rule(rule)))
            elif self.approve is None:  # the reader of the stream approves by asking for the next chunk
                if pending.scanning:
                    interp._set_status("thinking", "scanning the code")
                    await pending.final_scan()
                interp._set_status("awaiting_approval", language)
                yield pending.confirmation_chunk()
                decision = Decision("incomplete") if pending.incomplete else Decision("run", code)
            else:
                yield pending.confirmation_chunk()
                interp._set_status("awaiting_approval", language)
                decision = await self.approve(pending)
                if decision.outcome == "run" and pending.incomplete and decision.code == code and not decision.confirmed_incomplete:
                    decision = Decision("incomplete")  # never run cut-off code on a plain "yes"
        except GeneratorExit:  # the reader closed or dropped the stream before approving
            if decision is None:
                self._record_not_run(Decision("refused"), pending, index)
                self.reason = "skipped"
            raise
        except asyncio.CancelledError:
            if decision is None:
                self._record_not_run(Decision("stopped"), pending, index)
                self.reason = "stopped"
            raise
        finally:
            if decision is None or decision.outcome != "fix":
                pending.stop_scan()
        if decision.outcome != "run":
            scan = await pending.final_scan() if decision.outcome == "fix" else pending.scan
            if decision.outcome == "fix" and scan is not None and scan.status == "off":
                pending.scan = None
                if pending.start_scan() is not None:  # "ask" mode, never scanned: the model should get findings
                    interp._set_status("thinking", "scanning the code")
                scan = await pending.final_scan()
            message = self._record_not_run(decision, pending, index, scan)
            yield {**message}
            if decision.ends_turn:
                self.reason = "stopped" if decision.outcome == "stopped" else "skipped"
            return
        self._record_approved(decision, pending, index, rule)
        to_run = await interp.run_checkpoints.before_run(  # checkpoint first; without one, ask again
            index, language, decision.code, ask_without_checkpoint(interp, self.approve, pending))
        if to_run is None:
            message = self._record_not_run(Decision("skip"), pending, index)
            yield {**message}
            self.reason = "skipped"
            return
        interp._set_status("running", language)
        output = BoundedText()
        failed = False
        yield {"role": "computer", "type": "console", "start": True}
        try:
            async with aclosing(interp.computer.arun(language, to_run, self.io)) as chunks:
                async for chunk in chunks:
                    kind = chunk.get("type")
                    if kind == "console" and chunk.get("format") == RUN_OUTCOME:
                        failed = chunk.get("content") == "error"  # the runner's verdict, shown on the block
                        continue
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
            stopped = interp._stop_requested
            if stopped:
                self.reason = "stopped"
                text = (text + ("\n" if text and not text.endswith("\n") else "") + STOPPED_NOTE)
            message = {"role": "computer", "type": "console", "format": "output", "content": text}
            if stopped or failed:  # a resumed conversation labels the block as the live one did
                message["status"] = "stopped" if stopped else "error"
            interp._append(message)
            await interp.run_checkpoints.after_run(index, wait=False)  # what it changed: recorded beside the next request
        yield {"role": "computer", "type": "console", "format": "active_line", "content": None}
        yield {"role": "computer", "type": "console", "end": True, **({"status": "error"} if failed else {})}

    def _record_not_run(
        self, decision: Decision, pending: PendingCode, index: int, scan: ScanResult | None = None
    ) -> dict[str, Any]:
        """Store what the model must know about a block that did not run (sync: safe inside GeneratorExit)."""
        interp = self.interpreter
        self._annotate(index, pending)
        message = {
            "role": "computer", "type": "console", "format": "output",
            "content": approval.not_run_note(decision, pending, scan), "not_run": True,
        }
        interp._append(message)
        return message

    def _record_approved(self, decision: Decision, pending: PendingCode, index: int, rule: Any | None) -> None:
        extra: dict[str, Any] = {}
        if decision.code != pending.code:
            extra = {"content": decision.code, "edited": True, "original": pending.code}
        if rule is not None:
            extra["allowed_by"] = rule.to_dict()
        self._annotate(index, pending, extra)

    def _annotate(self, index: int, pending: PendingCode, extra: dict[str, Any] | None = None) -> None:
        """Mark the stored code message (edit, allow rule, scan) and tell autosave it changed."""
        interp = self.interpreter
        extra = dict(extra or {})
        if pending.scan is not None:
            extra["scan"] = pending.scan.to_dict()
        if not extra or index >= len(interp.messages):
            return
        interp.messages[index] = {**interp.messages[index], **extra}
        interp._message_appended(interp.messages[index], index)


def as_approver(approve: Callable[..., Awaitable[Any]] | None) -> Approver | None:
    """Accept the simple form too: `async def approve(language, code) -> code to run | None`."""
    if approve is None:
        return None
    try:
        simple = len(inspect.signature(approve).parameters) >= 2
    except (TypeError, ValueError):
        simple = False
    if not simple:
        return approve

    async def adapted(pending: PendingCode) -> Decision:
        code = await approve(pending.language, pending.code)
        return Decision("skip") if code is None else Decision("run", str(code))

    return adapted
