"""The sync streaming API with its approval gate: what `chat(stream=True)` costs over `achat()`.

The core's loop thread streams chunks ahead of the sync reader but pauses after each `confirmation` chunk
until the reader asks for more (so a reader that stops never lets code run). Both figures consume the
same 2,000-chunk reply from a zero-latency scripted server, runs interleaved; the async one is the floor.

Run: python benchmarks/bench_api_stream.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CHUNKS = 2000


def main(runs: int = 7) -> None:
    from oi_core import OpenInterpreter
    from tests.llm_server import Reply, ScriptedLLM

    server = ScriptedLLM()
    interp = OpenInterpreter()
    interp.llm.model, interp.llm.api_base, interp.llm.api_key = "openai/bench", server.url, "x"
    interp.llm.supports_functions = interp.llm.supports_vision = False
    interp.llm.context_window = 32000
    interp.conversation_history = False
    reply = Reply(text="".join(f"w{i:04d} " for i in range(CHUNKS)), chunk_size=6)  # litellm rejects repeated chunks

    def sync_run() -> float:
        interp.messages = []
        server.queue(reply)
        start = time.perf_counter()
        count = sum(1 for _ in interp.chat("talk", display=False, stream=True))
        assert count >= CHUNKS
        return time.perf_counter() - start

    async def async_run() -> float:
        interp.messages = []
        server.queue(reply)
        start = time.perf_counter()
        count = 0
        async for _ in interp.achat("talk"):
            count += 1
        assert count >= CHUNKS
        return time.perf_counter() - start

    def async_on_core_loop() -> float:
        return interp._loop_thread.run(async_run())

    sync_run(), async_on_core_loop()  # warm: litellm imported, connections open
    sync: list[float] = []
    floor: list[float] = []
    for _ in range(runs):  # interleaved, so load on the shared machine hits both alike
        sync.append(sync_run())
        floor.append(async_on_core_loop())
    s, f = statistics.median(sync), statistics.median(floor)
    print(f"{CHUNKS:,}-chunk reply, median of {runs} interleaved runs")
    print(f"  chat(stream=True) from a thread   {s:6.3f} s")
    print(f"  floor: achat() on the core loop   {f:6.3f} s")
    interp.terminate()
    server.close()


if __name__ == "__main__":
    main()
