"""`oi-tui --plain`: a line-mode client of the same core and bus, for pipes and scripts.

Messages come from stdin (one per line when it is not a terminal, a `> ` prompt when it is); the
conversation is printed as plain text: the assistant's words, its code fenced with the language, and
the code's output. Errors go to stderr as one line; an LLM failure ends the run with exit status 1.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from typing import Any, TextIO

from oi_core.display import ChunkPrinter, describe_pending, describe_scan
from oi_core.errors import OiError
from oi_tui import shutdown
from oi_core.events import (
    ApprovalRequested,
    ApprovalResolved,
    ChunkEmitted,
    CodeAllowedByRule,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    InfoShown,
    InputAnswered,
    InputRequested,
    ScanFinished,
    ScanRequested,
)
from oi_core.sanitize import terminal_safe

FAILING_KINDS = {"llm", "budget", "internal"}

DECLINE_NOTE = (
    "code not run: input is piped, so nobody can approve it. Run with -y (--auto_run) to let code run."
)
FORCED_NOTE = "code not run: {why} needs your approval, and input is piped, so nobody can give it."
ANSWERS = {"y": "run", "yes": "run", "": "skip", "n": "skip", "no": "skip", "f": "fix", "fix": "fix",
           "s": "scan", "scan": "scan", "c": "confirm", "confirm": "confirm"}


class PlainClient:
    def __init__(self, interpreter: Any, stdin: TextIO, stdout: TextIO, stderr: TextIO, interactive: bool) -> None:
        from oi_core.session import Session

        self.interpreter = interpreter
        self.session = Session(interpreter)
        self.bus = interpreter.bus
        self.stdin = stdin
        self.stderr = stderr
        self.printer = ChunkPrinter(stdout)
        self._scans: dict[str, asyncio.Future[Any]] = {}
        self.interactive = interactive
        self.failed = False
        self._unsubscribe = [
            self.bus.on(ChunkEmitted, lambda e: self.printer.chunk(e.chunk)),
            self.bus.on(ApprovalRequested, self._on_approval),
            self.bus.on(ScanFinished, self._on_scan_finished),
            self.bus.on(ApprovalResolved, self._on_approval_resolved),
            self.bus.on(CodeAllowedByRule, self._on_allowed_by_rule),
            self.bus.on(InputRequested, self._on_input),
            self.bus.on(ErrorRaised, self._on_error),
            self.bus.on(InfoShown, self._on_info),
        ]

    def error(self, message: str) -> None:
        self.printer.newline()
        print(f"oi-tui: {terminal_safe(message)}", file=self.stderr, flush=True)

    def _on_error(self, event: ErrorRaised) -> None:
        if event.kind in FAILING_KINDS:
            self.failed = True
        self.error(" ".join(event.message.split()))

    def _on_info(self, event: InfoShown) -> None:
        self.printer.newline()
        self.printer.text(event.text.rstrip("\n") + "\n")

    async def _readline(self, prompt: str = "") -> str | None:
        if self.interactive and prompt:
            self.printer.newline()
            self.printer.text(prompt)
        line = await asyncio.to_thread(self.stdin.readline)
        if not line:
            return None
        self.printer.at_line_start = True
        return line.rstrip("\r\n")

    @staticmethod
    def _not_approvable(event: ApprovalRequested) -> str:
        """Why piped code did not run: -y is only suggested when -y is what would have let it run."""
        if event.forced.startswith("safe mode"):
            return FORCED_NOTE.format(why="safe mode")
        if event.incomplete:
            return FORCED_NOTE.format(why="cut-off code")
        if event.forced:  # e.g. no checkpoint could be taken: asked although auto-run is on
            return f"code not run: approval is needed because {event.forced}, and input is piped, so nobody can give it."
        return DECLINE_NOTE

    async def _on_approval(self, event: ApprovalRequested) -> None:
        """Describe the block (cut off, forced, risks, scan) and ask; piped input declines and says why."""
        scan = event.scan
        if scan is not None and scan.status == "scanning":
            scan = await self._scan_result(event.request_id)
            if scan is None:
                return  # the approval ended while scanning (Stop)
        self.printer.newline()
        for line in describe_pending(replace(event, scan=scan)):
            self.printer.text(line + "\n")
        if not self.interactive:
            self.error(self._not_approvable(event))
            self.bus.publish(CodeSkipped(event.request_id))
            return
        while True:
            answer = await self._readline(self._question(event, scan))
            if answer is None:  # end of input: nobody will approve
                self.bus.publish(CodeSkipped(event.request_id))
                return
            choice = ANSWERS.get(answer.strip().lower(), "reason")
            if choice == "run" and event.incomplete:
                self.error("this code was cut off by the token limit: type c to run it as it is, or n to skip it.")
                continue
            if choice == "scan":
                if scan is None or scan.status not in ("off",):
                    self.error("there is nothing to scan with: safe mode is off or cannot scan (see above).")
                    continue
                self.bus.publish(ScanRequested(event.request_id))
                scan = await self._scan_result(event.request_id)
                if scan is None:
                    return
                for line in describe_scan(scan):
                    self.printer.text(line + "\n")
                continue
            if choice in ("run", "confirm"):
                self.bus.publish(CodeApproved(event.request_id, event.code, confirmed_incomplete=choice == "confirm"))
            elif choice == "fix":
                self.bus.publish(CodeSkipped(event.request_id, how="fix"))
            elif choice == "reason":
                self.bus.publish(CodeSkipped(event.request_id, reason=answer.strip()))
            else:
                self.bus.publish(CodeSkipped(event.request_id))
            return

    def _question(self, event: ApprovalRequested, scan: Any) -> str:
        language = terminal_safe(event.language)
        if event.incomplete:
            hint = "(c = run it as it is, n = skip, f = ask the model to fix it, or type why you skip it)"
            return f"{hint}\nRun this cut-off {language} code as it is? [c/N] "
        scan_key = ", s = scan it" if scan is not None and scan.status == "off" else ""
        hint = f"(y = run, n = skip, f = ask the model to fix it{scan_key}, or type why you skip it)"
        return f"{hint}\nRun this {language} code? [y/N] "

    async def _scan_result(self, request_id: str) -> Any:
        future = self._scans.setdefault(request_id, asyncio.get_running_loop().create_future())
        try:
            return await future
        finally:
            self._scans.pop(request_id, None)

    def _on_approval_resolved(self, event: ApprovalResolved) -> None:
        future = self._scans.get(event.request_id)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_scan_finished(self, event: ScanFinished) -> None:
        future = self._scans.setdefault(event.request_id, asyncio.get_running_loop().create_future())
        if not future.done():
            future.set_result(event.scan)

    def _on_allowed_by_rule(self, event: CodeAllowedByRule) -> None:
        self.error(f"ran without asking, as an allow rule permits: {event.description or event.rule}.")

    async def _on_input(self, event: InputRequested) -> None:
        if not self.interactive:
            self.error("the running code asked for input, but input is piped: it gets an empty line.")
            self.bus.publish(InputAnswered(event.request_id, ""))
            return
        answer = await self._readline(terminal_safe(event.prompt or "input: "))
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
        shutdown.for_plain(self.session)  # SIGTERM/SIGHUP: stop, end kernels and shells, save, exit
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
