"""`oi-tui --plain --model ollama/NAME`: check the model before the first turn, offer a missing one for download.

The model is looked up on the host it will be used on (api_base, else OLLAMA_HOST, else localhost). A missing
model is downloaded only after a yes at the terminal, with a text progress line on stderr; piped input gets
a sentence saying what to run instead. Settings the user left unset are filled from the model's details.
"""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

from oi_core.local_check import check_ollama_model, settings_to_fill
from oi_core.local_models import LocalModelError, is_ollama_model
from oi_core.local_pull import PullProgress, pull


class ProgressLine:
    """One line of download progress on a stream: redrawn in place on a terminal, a few lines in a log."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.name = name
        try:
            self.live = stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self.last_logged: tuple[str | None, int] = (None, -1)

    def show(self, progress: PullProgress) -> None:
        text = f"Downloading {self.name}: {progress.line}"
        if self.live:
            self.stream.write(f"\r\x1b[2K{text}")
            self.stream.flush()
            return
        step = int((progress.fraction or 0) * 10)  # a log gets a line per status and per tenth done
        status, logged_step = self.last_logged
        if progress.status != status or step > logged_step:
            self.last_logged = (progress.status, step)
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def prepare_local_model(interpreter: Any, *, stdin: TextIO, stderr: TextIO, interactive: bool) -> int | None:
    """Check an Ollama model before plain mode starts; None to go on, or the exit status to stop with."""
    if not is_ollama_model(interpreter.llm.model):
        return None
    try:
        return asyncio.run(_prepare(interpreter, stdin, stderr, interactive))
    except KeyboardInterrupt:
        print("\noi-tui: download cancelled.", file=stderr, flush=True)
        return 130


async def _prepare(interpreter: Any, stdin: TextIO, stderr: TextIO, interactive: bool) -> int | None:
    llm = interpreter.llm

    def say(text: str) -> None:
        print(f"oi-tui: {text}", file=stderr, flush=True)

    check = await check_ollama_model(llm.model, llm.api_base)
    if check.state == "down":
        say(f"{check.message} Then run oi-tui again.")
        return 1
    if check.state == "missing":
        if not interactive:
            say(f"{check.message} Download it with `ollama pull {check.name}`, or run oi-tui in a terminal "
                "to be offered the download.")
            return 1
        stderr.write(f"{check.message} Download it now? [y/N] ")
        stderr.flush()
        answer = await asyncio.to_thread(stdin.readline)
        if answer.strip().lower() not in ("y", "yes"):
            say(f"{check.name} was not downloaded: run `ollama pull {check.name}`, or choose another model with --model.")
            return 1
        line = ProgressLine(stderr, check.name)
        try:
            async for progress in pull(check.host, check.name):
                line.show(progress)
        except LocalModelError as exc:
            line.close()
            say(exc.message)
            return 1
        line.close()
        check = await check_ollama_model(llm.model, llm.api_base)
        if check.state != "ready":
            say(check.message or f"{check.name} did not appear on the server after the download.")
            return 1
    for path, value in settings_to_fill(llm, check).items():
        interpreter.set_setting(path, value)
    return None


__all__ = ["ProgressLine", "prepare_local_model"]
