"""`oi-tui --plain`: a line-mode client of the same core and bus, for pipes and scripts.

Messages come from stdin (one per line when it is not a terminal, a `> ` prompt when it is); the
conversation is printed as plain text: the assistant's words, its code fenced with the language, and
the code's output. Errors go to stderr as one line; an LLM failure ends the run with exit status 1.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

from oi_core.errors import OiError
from oi_core.events import (
    ApprovalRequested,
    ChunkEmitted,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    InfoShown,
    InputAnswered,
    InputRequested,
)

FAILING_KINDS = {"llm", "budget", "internal"}

DECLINE_NOTE = (
    "code not run: input is piped, so nobody can approve it. Run with -y (--auto_run) to let code run."
)


class PlainPrinter:
    """Turns LMC chunks into plain text on a stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.at_line_start = True

    def write(self, text: str) -> None:
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def newline(self) -> None:
        if not self.at_line_start:
            self.write("\n")

    def chunk(self, chunk: dict[str, Any]) -> None:
        role, kind, fmt = chunk.get("role"), chunk.get("type"), chunk.get("format")
        content = chunk.get("content")
        if role == "assistant" and kind == "message":
            if chunk.get("end"):
                self.newline()
            elif not chunk.get("start"):
                self.write(str(content or ""))
        elif role == "assistant" and kind == "code":
            if chunk.get("start"):
                self.newline()
                self.write(f"```{fmt or ''}\n")
            elif chunk.get("end"):
                self.newline()
                self.write("```\n")
            else:
                self.write(str(content or ""))
        elif role == "computer" and kind == "console":
            if fmt == "output":
                self.write(str(content or ""))
            elif chunk.get("end"):
                self.newline()
        elif kind == "image":
            self.newline()
            self.write(f"[image: {fmt or 'image'}]\n")


class PlainClient:
    def __init__(self, interpreter: Any, stdin: TextIO, stdout: TextIO, stderr: TextIO, interactive: bool) -> None:
        from oi_core.session import Session

        self.interpreter = interpreter
        self.session = Session(interpreter)
        self.bus = interpreter.bus
        self.stdin = stdin
        self.stderr = stderr
        self.printer = PlainPrinter(stdout)
        self.interactive = interactive
        self.failed = False
        self._unsubscribe = [
            self.bus.on(ChunkEmitted, lambda e: self.printer.chunk(e.chunk)),
            self.bus.on(ApprovalRequested, self._on_approval),
            self.bus.on(InputRequested, self._on_input),
            self.bus.on(ErrorRaised, self._on_error),
            self.bus.on(InfoShown, self._on_info),
        ]

    def error(self, message: str) -> None:
        self.printer.newline()
        print(f"oi-tui: {message}", file=self.stderr, flush=True)

    def _on_error(self, event: ErrorRaised) -> None:
        if event.kind in FAILING_KINDS:
            self.failed = True
        self.error(" ".join(event.message.split()))

    def _on_info(self, event: InfoShown) -> None:
        self.printer.newline()
        self.printer.write(event.text.rstrip("\n") + "\n")

    async def _readline(self, prompt: str = "") -> str | None:
        if self.interactive and prompt:
            self.printer.newline()
            self.printer.write(prompt)
        line = await asyncio.to_thread(self.stdin.readline)
        if not line:
            return None
        self.printer.at_line_start = True
        return line.rstrip("\r\n")

    async def _on_approval(self, event: ApprovalRequested) -> None:
        if not self.interactive:
            self.error(DECLINE_NOTE)
            self.bus.publish(CodeSkipped(event.request_id))
            return
        answer = await self._readline(f"Run this {event.language} code? [y/N] ")
        if answer is not None and answer.strip().lower() in ("y", "yes"):
            self.bus.publish(CodeApproved(event.request_id, event.code))
        else:
            self.bus.publish(CodeSkipped(event.request_id))

    async def _on_input(self, event: InputRequested) -> None:
        if not self.interactive:
            self.error("the running code asked for input, but input is piped: it gets an empty line.")
            self.bus.publish(InputAnswered(event.request_id, ""))
            return
        answer = await self._readline(event.prompt or "input: ")
        self.bus.publish(InputAnswered(event.request_id, answer or ""))

    async def handle(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if text.startswith("%"):
            from oi_core.magic import run_magic

            try:
                result = await run_magic(self.session, text)
            except OiError as exc:
                self.error(exc.message)
                return
            if result:
                self.bus.publish(InfoShown(result))
            return
        await self.session.run_turn(line)
        self.printer.newline()

    async def run(self, warnings: list[str] | tuple[str, ...] = ()) -> int:
        for warning in warnings:
            self.error(warning)
        try:
            while True:
                line = await self._readline("> ")
                if line is None:
                    break
                await self.handle(line)
                if self.failed:
                    break
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            await self.session.close()
        self.printer.newline()
        return 1 if self.failed else 0


def run_plain(
    interpreter: Any,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    warnings: list[str] | tuple[str, ...] = (),
    interactive: bool | None = None,
) -> int:
    """Run the line-mode client until the end of input; returns the exit status."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if interactive is None:
        try:
            interactive = stdin.isatty()
        except (AttributeError, ValueError):
            interactive = False
    interpreter.plain_text_display = True
    client = PlainClient(interpreter, stdin, stdout, stderr, interactive)
    try:
        return asyncio.run(client.run(warnings))
    except KeyboardInterrupt:
        print(file=stdout)
        return 130
