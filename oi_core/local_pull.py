"""Downloading an Ollama model: `/api/pull` progress as typed updates, with totals across layers and a speed.

Ollama streams one JSON object per line: a status ("pulling manifest", "pulling <digest>", "verifying sha256
digest", "writing manifest", "success") and, while a layer downloads, its `digest`, `total` and `completed`
bytes; a failure is a line (or an HTTP error body) with `error`. Cancelling the task that iterates `pull()`
closes the request, which makes Ollama stop downloading.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .local_models import LocalModelError, http_client

SPEED_WINDOW = 3.0  # seconds of history behind the speed figure


@dataclass(frozen=True)
class PullProgress:
    """Where a download stands: the latest status and the byte counts summed over all layers."""

    status: str
    completed: int = 0
    total: int = 0
    bytes_per_second: float = 0.0
    done: bool = False

    @property
    def fraction(self) -> float | None:
        """0..1 once sizes are known, else None."""
        return min(1.0, self.completed / self.total) if self.total else None

    @property
    def line(self) -> str:
        """One line for a status bar or a terminal: "1.2 GB of 4.7 GB · 26% · 35.1 MB/s"."""
        if self.done:
            return f"done: {human_bytes(self.total)}" if self.total else "done"
        if not self.total:
            return self.status
        parts = [f"{human_bytes(self.completed)} of {human_bytes(self.total)}", f"{self.fraction * 100:.0f}%"]
        if self.bytes_per_second > 0:
            parts.append(f"{human_bytes(self.bytes_per_second)}/s")
            remaining = (self.total - self.completed) / self.bytes_per_second
            if remaining >= 1:
                parts.append(f"{_duration(remaining)} left")
        return " · ".join(parts)


def human_bytes(count: float) -> str:
    """Bytes in decimal units, as download sizes are usually quoted ("4.7 GB")."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Tally:
    """Sums per-layer byte counts and measures the speed over the last few seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.layers: dict[str, tuple[int, int]] = {}
        self.history: deque[tuple[float, int]] = deque()

    def update(self, line: dict[str, Any]) -> PullProgress:
        status = str(line.get("status") or "")
        digest = line.get("digest")
        total, completed = line.get("total"), line.get("completed")
        if isinstance(digest, str) and isinstance(total, int):
            self.layers[digest] = (total, int(completed) if isinstance(completed, int) else 0)
        all_total = sum(t for t, _ in self.layers.values())
        all_done = sum(min(c, t) for t, c in self.layers.values())
        now = self.clock()
        self.history.append((now, all_done))
        while len(self.history) > 2 and now - self.history[0][0] > SPEED_WINDOW:
            self.history.popleft()
        first_time, first_done = self.history[0]
        speed = (all_done - first_done) / (now - first_time) if now - first_time > 0.2 else 0.0
        return PullProgress(status, all_done, all_total, max(0.0, speed), done=status == "success")


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    return str(data.get("error") or "").strip() if isinstance(data, dict) else ""


async def pull(
    host: str, name: str, *, clock: Callable[[], float] = time.monotonic, connect_timeout: float = 5.0
) -> AsyncIterator[PullProgress]:
    """Download `name` into the Ollama server at `host`, yielding progress; raises LocalModelError on failure."""
    import httpx

    where = urlsplit(host).netloc or host
    url = f"{host}/api/pull"
    tally = _Tally(clock)
    finished = False
    try:
        # no read timeout: a large layer may stay quiet while Ollama verifies it; the user can cancel
        async with await http_client(None, connect=connect_timeout) as client:
            async with client.stream("POST", url, json={"model": name, "name": name, "stream": True}) as response:
                if response.status_code >= 400:
                    reason = _error_text(await response.aread()) or f"HTTP {response.status_code}"
                    raise LocalModelError(f"Ollama at {where} could not download {name}: {reason}.")
                async for raw in response.aiter_lines():
                    if not raw.strip():
                        continue
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        raise LocalModelError(
                            f"Ollama at {where} sent an unreadable progress line while downloading {name}."
                        ) from None
                    if not isinstance(line, dict):
                        continue
                    if line.get("error"):
                        raise LocalModelError(f"Ollama at {where} could not download {name}: {line['error']}.")
                    progress = tally.update(line)
                    finished = finished or progress.done
                    yield progress
    except LocalModelError:
        raise
    except asyncio.CancelledError:
        raise
    except httpx.ConnectError as exc:
        raise LocalModelError(f"Could not download {name}: nothing answers at {where} (is `ollama serve` running?).") from exc
    except httpx.HTTPError as exc:
        raise LocalModelError(f"The download of {name} from {where} broke off ({type(exc).__name__}): try again.") from exc
    if not finished:
        raise LocalModelError(f"The download of {name} from {where} ended before Ollama reported success: try again.")


__all__ = ["PullProgress", "human_bytes", "pull"]
