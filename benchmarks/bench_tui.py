"""oi-tui benchmark: launch to first frame, and rendering streamed replies through the real path.

    /work/venv/bin/python benchmarks/bench_tui.py

1. Launch: a subprocess imports oi_core + oi_tui, builds the app and runs it headless; it prints a
   marker on the first frame after mount. Measured from spawning the process to reading the marker.
2. Streaming: chunks are published on the bus one by one (yielding to the loop between them, as a
   network stream would), travel through the bridge and the chat screen into MarkdownStream.
   Measured from the first publish until the Markdown widget holds the whole reply.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAUNCH_SCRIPT = r"""
import sys
from oi_core import OpenInterpreter
from oi_tui.app import OiApp

class BenchApp(OiApp):
    def _after_first_frame(self):
        print("FIRST-FRAME", flush=True)
        self.exit()

interp = OpenInterpreter()
interp.llm.model = "openai/bench"
interp.llm.api_base = "http://127.0.0.1:9/v1"
interp.llm.api_key = "x"
interp.conversation_history = False
BenchApp(interp).run(headless=True, size=(120, 35))
"""


def launch_time(runs: int = 5) -> list[float]:
    times = []
    env = {**os.environ, "OI_TUI_THEME": "textual-dark", "PYTHONPATH": str(ROOT)}
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH_SCRIPT], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"FIRST-FRAME" in line:
                times.append(time.perf_counter() - started)
                break
        proc.wait(timeout=30)
    return times


def reply_chunks(count: int) -> list[str]:
    """Realistic Markdown in 4-character tokens: paragraphs, a list, a heading every so often."""
    words = ("the model explains what it will do next and why this step matters for the task; ")
    text: list[str] = []
    i = 0
    while sum(map(len, text)) < count * 4:
        if i % 12 == 0:
            text.append(f"\n\n## Step {i // 12 + 1}\n\n")
        elif i % 5 == 0:
            text.append(f"\n- item {i}: {words[:40]}\n")
        else:
            text.append(words)
        i += 1
    joined = "".join(text)[: count * 4]
    return [joined[k:k + 4] for k in range(0, len(joined), 4)]


async def stream_time(count: int) -> float:
    os.environ.setdefault("OI_TUI_THEME", "textual-dark")
    from oi_core import OpenInterpreter
    from oi_core.events import ChunkEmitted
    from oi_core.session import Session
    from oi_tui.app import OiApp
    from oi_tui.widgets.chat_messages import AssistantMessage

    Session.warm_up = lambda self: None  # measure rendering, not litellm/kernel start-up
    interp = OpenInterpreter()
    interp.llm.model = "openai/bench"
    interp.conversation_history = False
    chunks = reply_chunks(count)
    expected = "".join(chunks)
    app = OiApp(interp)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        bus = interp.bus
        started = time.perf_counter()
        bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "start": True}))
        for piece in chunks:
            bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "content": piece}))
            await asyncio.sleep(0)
        bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "end": True}))
        while True:
            replies = app.query(AssistantMessage)
            if replies and not replies.first().streaming and replies.first().markdown.source == expected:
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        await pilot.pause()
    return elapsed


def main() -> None:
    launches = launch_time()
    print(f"launch to first frame: median {sorted(launches)[len(launches) // 2]:.3f} s "
          f"(min {min(launches):.3f}, max {max(launches):.3f}, {len(launches)} runs; target <= 0.5 s)")
    results = {}
    for count in (2500, 10000):
        results[count] = asyncio.run(stream_time(count))
        print(f"streamed reply, {count:>6,} chunks: {results[count]:.3f} s "
              f"({count / results[count]:,.0f} chunks/s)")
    ratio = results[10000] / results[2500]
    print(f"4x chunks -> {ratio:.2f}x time (linear = 4.0; target for 2,500 chunks <= 2 s)")


if __name__ == "__main__":
    main()
