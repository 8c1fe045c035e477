"""Downloading an Ollama model with a real progress bar: bytes, percent, speed, time left; cancellable.

    app.push_screen(LocalPullScreen(host, "llama3.2"), callback)   # callback(True when the model is in place)

The download runs in an async worker that only posts `PullProgressed` / `PullEnded` messages (throttled to
a few per second); the handlers here own every widget. A failure stays on screen with its reason and a Retry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker, WorkerState

from oi_core.local_models import LocalModelError
from oi_core.local_pull import PullProgress, pull
from oi_core.sanitize import terminal_safe

UPDATE_INTERVAL = 0.1  # seconds between progress repaints


@dataclass
class PullProgressed(Message):
    """The download moved on."""

    progress: PullProgress


@dataclass
class PullEnded(Message):
    """The download finished (`error` empty) or failed (`error` says why)."""

    error: str = ""


class LocalPullScreen(ModalScreen[bool]):
    """Pull one model into an Ollama server; dismisses True once it is there, False if cancelled or failed."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="local_pull.cancel", tooltip="Stop the download"),
    ]

    def __init__(self, host: str, model_name: str) -> None:
        super().__init__()
        self.host = host
        self.model_name = model_name
        self.running = False
        self.failed = ""
        self.last_progress: PullProgress | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="pull-dialog") as dialog:
            dialog.border_title = terminal_safe(f"Download {self.model_name}")
            yield Static(terminal_safe(f"Into Ollama at {urlsplit(self.host).netloc or self.host}"), id="pull-where", markup=False)
            yield Static("starting…", id="pull-status", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="pull-bar")
            yield Static("", id="pull-figures", markup=False)
            with Horizontal(id="pull-buttons"):
                yield Button("Retry", id="pull-retry", compact=True)
                yield Button("Cancel", id="pull-cancel", variant="error", compact=True)

    def on_mount(self) -> None:
        self.start()

    def start(self) -> None:
        """Begin (or begin again) the download."""
        self.failed = ""
        self.running = True
        self.set_class(False, "-failed")
        self.query_one("#pull-retry", Button).display = False
        self.query_one("#pull-cancel", Button).label = "Cancel"
        self.query_one("#pull-status", Static).update("asking Ollama for the model…")
        self._download()

    @work(group="local-pull", exclusive=True, exit_on_error=False)
    async def _download(self) -> None:
        shown = 0.0
        latest: PullProgress | None = None
        try:
            async for progress in pull(self.host, self.model_name):
                latest = progress
                now = time.monotonic()
                if now - shown >= UPDATE_INTERVAL or progress.done:
                    shown = now
                    self.post_message(PullProgressed(progress))
        except LocalModelError as exc:
            if latest is not None:
                self.post_message(PullProgressed(latest))
            self.post_message(PullEnded(exc.message))
            return
        self.post_message(PullEnded())

    @on(PullProgressed)
    def show_progress(self, event: PullProgressed) -> None:
        progress = event.progress
        self.last_progress = progress
        self.query_one("#pull-status", Static).update(terminal_safe(progress.status or "downloading"))
        bar = self.query_one("#pull-bar", ProgressBar)
        if progress.total:
            bar.update(total=progress.total, progress=progress.completed)
        self.query_one("#pull-figures", Static).update(progress.line if progress.total else "")

    @on(PullEnded)
    def finish(self, event: PullEnded) -> None:
        self.running = False
        if not event.error:
            self.dismiss(True)
            return
        self._show_failure(event.error)

    def _show_failure(self, message: str) -> None:
        self.failed = message
        self.set_class(True, "-failed")
        self.query_one("#pull-status", Static).update(terminal_safe(message))
        self.query_one("#pull-retry", Button).display = True
        self.query_one("#pull-cancel", Button).label = "Close"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """An unexpected failure in the download worker is shown like any other failure."""
        if event.worker.group == "local-pull" and event.state == WorkerState.ERROR:
            self.running = False
            error = event.worker.error
            self._show_failure(f"The download of {self.model_name} failed unexpectedly: {type(error).__name__}: {error}")

    @on(Button.Pressed, "#pull-retry")
    def retry(self) -> None:
        self.start()

    @on(Button.Pressed, "#pull-cancel")
    def action_cancel(self) -> None:
        """Stop the download (closing the request makes Ollama stop) and close."""
        if self.running:
            self.workers.cancel_group(self, "local-pull")
            self.running = False
        self.dismiss(False)


__all__ = ["LocalPullScreen", "PullEnded", "PullProgressed"]
