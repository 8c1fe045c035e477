"""Server figures: chunk throughput over the WebSocket and the latency a turn gains, each next to its floor.

The floor is the in-process path (the core's Session and its bus, as the TUI uses them) on the same scripted
stream; the server runs in its own process (`Server` with the same interpreter settings), the clients here:
a plain LMC client (the reference protocol) and `RemoteClient` (what `oi-tui --connect` uses: events mode
with acknowledgements). The stream comes from a custom completions function, so the figures measure the core
and the transport, not litellm.

Run: python benchmarks/bench_server.py [--chunks 20000] [--turns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def scripted_completions(messages, **_kwargs):
    """A model that answers "chunks:N" with N small content chunks, as fast as it is asked."""
    asked = str(messages[-1]["content"])
    count = int(asked.split("chunks:", 1)[1].split()[0]) if "chunks:" in asked else 5

    async def stream():
        for number in range(count):
            yield {"choices": [{"index": 0, "delta": {"content": f"c{number} "}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

    return stream()


def make_interpreter():
    from oi_core import OpenInterpreter

    interp = OpenInterpreter()
    interp.llm.model = "openai/bench"
    interp.llm.completions = scripted_completions
    interp.llm.supports_functions = False
    interp.llm.supports_vision = False
    interp.llm.context_window = 10_000_000
    interp.conversation_history = False
    return interp


def serve(port: int) -> None:
    from oi_core.server import Server, ServerConfig

    server = Server(make_interpreter(), ServerConfig(port=port, session_timeout=0, max_frame_bytes=64 * 2**20))
    asyncio.run(server.serve_forever(lambda _server: print("ready", flush=True)))


# ---------------------------------------------------------------- the three paths, each as "run one turn"


async def in_process():
    """The floor: the core's Session and a bus subscription in this process (as the TUI's bridge reads it)."""
    from oi_core.events import ChunkEmitted, TurnFinished
    from oi_core.session import Session

    interp = make_interpreter()
    session = Session(interp)
    events = interp.bus.subscribe(ChunkEmitted, TurnFinished)

    async def turn(text: str) -> tuple[int, float]:
        started = time.perf_counter()
        session.send(text)
        received = 0
        while True:
            event = await events.get()
            if isinstance(event, TurnFinished):
                took = time.perf_counter() - started  # as the clients measure it: until the turn's end arrives
                await session.wait_idle()
                interp.messages = []
                return received, took
            if event.chunk.get("content"):
                received += 1

    return turn, session.close


async def lmc_client(url: str):
    """A plain client of the reference protocol: frames in, `complete` at the end of the turn."""
    import aiohttp

    http = aiohttp.ClientSession()
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.send_str(json.dumps({"auth": "bench"}))
    await ws.receive()

    async def turn(text: str) -> tuple[int, float]:
        started = time.perf_counter()
        for frame in ({"role": "user", "start": True}, {"role": "user", "type": "message", "content": text},
                      {"role": "user", "end": True}):
            await ws.send_str(json.dumps(frame))
        received = 0
        while True:
            data = json.loads((await ws.receive()).data)
            if data.get("type") == "status" and data.get("content") == "complete":
                return received, time.perf_counter() - started
            if data.get("type") == "message" and data.get("content"):
                received += 1

    async def close() -> None:
        await ws.close()
        await http.close()

    return turn, close


async def remote_client(url: str):
    """What `oi-tui --connect` uses: events mode with acknowledgements."""
    from oi_core.client_remote import RemoteClient
    from oi_core.events import ChunkEmitted, TurnFinished

    client = RemoteClient(url)
    await client.start()
    events = client.bus.subscribe(ChunkEmitted, TurnFinished)

    async def turn(text: str) -> tuple[int, float]:
        started = time.perf_counter()
        client.send(text)
        received = 0
        while True:
            event = await events.get()
            if isinstance(event, TurnFinished):
                return received, time.perf_counter() - started
            if event.chunk.get("content"):
                received += 1

    return turn, client.close


async def measure(url: str, chunks: int, turns: int, rounds: int = 3) -> dict[str, tuple[float, list[float]]]:
    """Interleaved, so the other load on the machine falls on every path alike: best throughput, all latencies."""
    paths = {"in process (floor)": await in_process(), "WebSocket, LMC client": await lmc_client(url),
             "WebSocket, RemoteClient (acks)": await remote_client(url)}
    rates: dict[str, float] = {name: 0.0 for name in paths}
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    for turn, _close in paths.values():
        await turn("chunks:50")  # warm
    for _ in range(rounds):
        for name, (turn, _close) in paths.items():
            got, took = await turn(f"chunks:{chunks}")
            assert got == chunks, f"{name}: {got} of {chunks} chunks"
            rates[name] = max(rates[name], got / took)
    for _ in range(turns):
        for name, (turn, _close) in paths.items():
            latencies[name].append((await turn("chunks:5"))[1])
    for _turn, close in paths.values():
        await close()
    return {name: (rates[name], latencies[name]) for name in paths}


def settle(pid: int, quiet: float = 0.5, limit: float = 30.0) -> None:
    """Wait until the server process is idle (its background litellm import has finished)."""
    import psutil

    process = psutil.Process(pid)
    deadline = time.monotonic() + limit
    used = sum(process.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = sum(process.cpu_times()[:2])
        if now - used < quiet * 0.05:
            return
        used = now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        settle(server.pid)
        url = f"ws://127.0.0.1:{port}/"
        results = asyncio.run(measure(url, args.chunks, args.turns))
    finally:
        server.terminate()
        server.wait(30)
    floor_rate, floor_turns = results["in process (floor)"]
    floor = statistics.median(floor_turns) * 1000
    print(f"chunk throughput, one turn of {args.chunks:,} chunks, best of 3 (target >= 5,000 chunks/s over the WebSocket)")
    for name, (rate, _turns) in results.items():
        print(f"  {name:<31} {rate:10,.0f} chunks/s")
    print(f"latency of a 5-chunk turn, median of {args.turns}, interleaved (target <= 5 ms added on loopback)")
    for name, (_rate, values) in results.items():
        median = statistics.median(values) * 1000
        added = "" if name.startswith("in process") else f"  (+{median - floor:.2f} ms)"
        print(f"  {name:<31} {median:8.2f} ms{added}")


if __name__ == "__main__":
    main()
