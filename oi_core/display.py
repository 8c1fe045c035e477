"""Plain terminal rendering for `interpreter.chat(display=True)` (library use without the TUI)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any, TextIO


def print_chunks(chunks: Iterator[dict[str, Any]], out: TextIO | None = None) -> Iterator[dict[str, Any]]:
    """Echo chunks as readable text while passing them through."""
    for chunk in chunks:
        write_chunk(chunk, out or sys.stdout)
        yield chunk


def write_chunk(chunk: dict[str, Any], out: TextIO) -> None:
    kind, fmt = chunk.get("type"), chunk.get("format")
    if kind == "code" and chunk.get("role") == "assistant":
        if chunk.get("start"):
            out.write(f"\n```{fmt or ''}\n")
        elif chunk.get("end"):
            out.write("\n```\n")
        else:
            out.write(str(chunk.get("content") or ""))
    elif kind == "message":
        if chunk.get("end"):
            out.write("\n")
        elif not chunk.get("start"):
            out.write(str(chunk.get("content") or ""))
    elif kind == "console" and fmt == "output":
        out.write(str(chunk.get("content") or ""))
    elif kind == "image":
        out.write(f"[image: {fmt}]\n")
    elif kind == "code" and chunk.get("role") == "computer":
        out.write(f"[{fmt} output]\n")
    out.flush()


async def terminal_approver(language: str, code: str) -> str | None:
    """Ask on the terminal before running code."""
    answer = await asyncio.to_thread(input, f"\nRun this {language} code? [y/N] ")
    return code if answer.strip().lower() in ("y", "yes") else None


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
