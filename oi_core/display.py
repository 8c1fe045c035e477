"""Plain-text rendering of LMC chunks for a terminal or a pipe: `chat(display=True)` and `oi-tui --plain`.

Every byte written passes the one sanitiser (oi_core.sanitize): replies, code and notes as text
(`terminal_safe`), program output as output (`clean_output`). Chunks split escape sequences at
arbitrary points, so each stream holds back an unfinished sequence until the next chunk completes it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from .sanitize import clean_output, terminal_safe

_HOLD_LIMIT = 8192  # an "escape sequence" longer than this is not one: release it (the sanitiser drops it)
_INTRODUCERS = "\x1b\x90\x98\x9b\x9d\x9e\x9f"
_STRING_STARTS = "]PX^_"  # after ESC: OSC, DCS, SOS, PM, APC (ended by BEL or ST)


def _unfinished_from(text: str) -> int | None:
    """Where a control sequence (or a `\\r\\n`) that the text ends in the middle of begins; None if it ends cleanly."""
    cut = _unfinished_escape(text)
    if cut is None and text.endswith("\r"):
        return len(text) - 1
    return cut


def _unfinished_escape(text: str) -> int | None:
    start = max(text.rfind(c) for c in _INTRODUCERS)
    if start < 0 or len(text) - start > _HOLD_LIMIT:
        return None
    lead, rest = text[start], text[start + 1 :]
    if lead == "\x1b":
        if not rest:
            return start
        kind, rest = rest[0], rest[1:]
        if kind in _STRING_STARTS:
            return None if ("\x07" in rest or "\x1b\\" in rest or "\x9c" in rest) else start
        if kind == "[":
            return None if any("@" <= c <= "~" for c in rest) else start
        if " " <= kind <= "/":  # intermediates, then a final byte
            return None if any("0" <= c <= "~" for c in rest) else start
        return None
    if lead == "\x9b":
        return None if any("@" <= c <= "~" for c in rest) else start
    return None if ("\x07" in rest or "\x9c" in rest or "\x1b\\" in rest) else start


class SafeStream:
    """Sanitises one stream of text that arrives in pieces (an escape split across pieces never slips through)."""

    def __init__(self, clean: Callable[[str], str] = terminal_safe) -> None:
        self._clean = clean
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        cut = _unfinished_from(text)
        if cut is not None:
            text, self._held = text[:cut], text[cut:]
        return self._clean(text) if text else ""

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self._clean(held) if held else ""


class ChunkPrinter:
    """Turns LMC chunks into plain text on a stream: prose, fenced code, then the code's output."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.at_line_start = True
        self._stream: SafeStream | None = None
        self._stream_key: tuple[Any, ...] | None = None

    def write(self, text: str) -> None:
        """Write text that is already safe for a terminal."""
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def text(self, text: str) -> None:
        """Write our own or outside text (notes, errors, prompts) through the sanitiser."""
        self.write(terminal_safe(text))

    def newline(self) -> None:
        self.end_stream()
        if not self.at_line_start:
            self.write("\n")

    def end_stream(self) -> None:
        if self._stream is not None:
            self.write(self._stream.flush())
            self._stream = None
            self._stream_key = None

    def _piece(self, key: tuple[Any, ...], text: str, clean: Callable[[str], str]) -> None:
        if self._stream_key != key:
            self.end_stream()
            self._stream, self._stream_key = SafeStream(clean), key
        assert self._stream is not None
        self.write(self._stream.feed(text))

    def chunk(self, chunk: dict[str, Any]) -> None:
        role, kind, fmt = chunk.get("role"), chunk.get("type"), chunk.get("format")
        content = chunk.get("content")
        if role == "assistant" and kind == "message":
            if chunk.get("end"):
                self.newline()
            elif not chunk.get("start"):
                self._piece(("message",), str(content or ""), terminal_safe)
        elif role == "assistant" and kind == "code":
            if chunk.get("start"):
                self.newline()
                self.text(f"```{fmt or ''}\n")
            elif chunk.get("end"):
                self.newline()
                self.write("```\n")
            else:
                self._piece(("code",), str(content or ""), terminal_safe)
        elif role == "computer" and kind == "console":
            if fmt == "output":
                if chunk.get("not_run"):
                    self.newline()
                    self.text(str(content or "") + "\n")
                else:
                    self._piece(("output",), str(content or ""), clean_output)
            elif chunk.get("end"):
                self.newline()
        elif kind == "image":
            self.newline()
            self.text(f"[image: {fmt or 'image'}]\n")
        elif role == "computer" and kind == "code":
            self.newline()
            self.text(f"[{fmt} output]\n")


def describe_pending(request: Any) -> list[str]:
    """Lines about a block waiting for approval: cut off, why approval is forced, risks, scan (unsanitised)."""
    lines: list[str] = []
    if getattr(request, "incomplete", False):
        lines.append("! This code was cut off by the token limit and is incomplete.")
    forced = getattr(request, "forced", "")
    if forced:
        lines.append(f"! Approval needed although auto-run is on: {forced}.")
    for mark in getattr(request, "risks", ()) or ():
        lines.append(f"risk ({mark.level}) line {mark.line}: {mark.reason}")
    lines += describe_scan(getattr(request, "scan", None))
    return lines


def describe_scan(scan: Any) -> list[str]:
    if scan is None or scan.status in ("off", "scanning"):
        return []
    if scan.status == "clean":
        return ["safe mode: the scan found nothing."]
    if scan.status == "findings":
        return [f"safe mode ({f.severity}) line {f.line}: {f.message} [{f.rule_id}]" for f in scan.findings]
    if scan.status == "skipped":
        return ["safe mode: scan skipped."]
    return [f"not scanned: {scan.detail or 'the scan did not run.'}"]


# ---------------------------------------------------------------- chat(display=True)


def print_chunks(chunks: Iterator[dict[str, Any]], out: TextIO | None = None) -> Iterator[dict[str, Any]]:
    """Echo chunks as readable text while passing them through."""
    printer = ChunkPrinter(out or sys.stdout)
    try:
        for chunk in chunks:
            printer.chunk(chunk)
            yield chunk
    finally:
        printer.newline()


async def terminal_approver(pending: Any) -> Any:
    """Ask on the terminal before running code (after the safe-mode scan, if one runs)."""
    from .approval import Decision

    scan = await pending.final_scan()
    if scan is not None:
        pending.scan = scan
    printer = ChunkPrinter(sys.stdout)
    for line in describe_pending(pending):
        printer.text(line + "\n")
    language = terminal_safe(pending.language)
    if pending.incomplete:
        question = f"\nRun this cut-off {language} code as it is? [c = run it anyway / N] "
        answer = await asyncio.to_thread(input, question)
        ok = answer.strip().lower() in ("c", "confirm")
        return Decision("run", pending.code, confirmed_incomplete=True) if ok else Decision("skip")
    answer = await asyncio.to_thread(input, f"\nRun this {language} code? [y/N] ")
    return Decision("run", pending.code) if answer.strip().lower() in ("y", "yes") else Decision("skip")


def interactive_chat(interpreter: Any) -> list[dict[str, Any]]:
    """A minimal read-eval loop on the terminal (the full experience is `oi-tui`)."""
    before = len(interpreter.messages)
    while True:
        try:
            text = input("\n> ")
        except (EOFError, KeyboardInterrupt):
            print()
            break
        if text.strip():
            try:
                interpreter.chat(text, display=True)
            except KeyboardInterrupt:
                interpreter.stop()
    return interpreter.messages[before:]
