"""Load on loopback, bounded: 20 clients × 25 turns against the real `oi-tui --server` and the scripted LLM.

Every reply is derived from its own request, so a chunk lost, duplicated, reordered or delivered to the
wrong client shows up as a wrong text; frame ids must run without a gap. Server memory is compared between
a warm-up round and the measured round, and the per-turn time is printed next to the in-process path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.llm_server import Reply, ScriptedLLM
from tests.server_support import FrameClient

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 20
TURNS = 25


class EchoLLM(ScriptedLLM):
    """Answers each request with a numbered reply built from its last user message."""

    def _serve(self, handler, body, reply):  # type: ignore[override]
        asked = str(body["messages"][-1]["content"])
        return super()._serve(handler, body, Reply(text=expected_reply(asked), chunk_size=7))


def expected_reply(asked: str) -> str:
    return " ".join(f"{asked}/{i}" for i in range(12))


def settled_rss(process: psutil.Process, timeout: float = 90) -> int:
    """The process's resident size once it has stopped growing (2 s within 1 MB), e.g. after a background import."""
    deadline = time.monotonic() + timeout
    last = process.memory_info().rss
    while True:
        time.sleep(2)
        now = process.memory_info().rss
        if abs(now - last) < 2**20 or time.monotonic() > deadline:
            return now
        last = now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_client(http: aiohttp.ClientSession, url: str, number: int, turns: int) -> list[float]:
    client = await FrameClient.connect(http, url, ack=True)
    took = []
    for turn in range(turns):
        asked = f"c{number}t{turn}"
        started = time.perf_counter()
        await client.send_message(asked)
        frames = await client.until_complete(timeout=120)
        took.append(time.perf_counter() - started)
        text = "".join(f["content"] for f in frames if f.get("type") == "message" and isinstance(f.get("content"), str))
        others = [f for f in frames if f.get("type") != "message"][:6]
        assert text == expected_reply(asked), f"client {number} turn {turn}: {text!r}; other frames: {others}"
    assert client.seen_ids == list(range(1, len(client.seen_ids) + 1)), f"client {number}: ids not contiguous"
    await client.close()
    return took


async def in_process_turns(url: str, turns: int) -> list[float]:
    """The floor: the same turns through the core's Session in this process, no network in between."""
    from oi_core import OpenInterpreter
    from oi_core.events import TurnFinished
    from oi_core.llm import import_litellm
    from oi_core.session import Session

    import_litellm()  # the server has imported it in the background by now: compare the same model path
    interp = OpenInterpreter()
    interp.llm.model, interp.llm.api_base, interp.llm.api_key = "openai/test-model", url, "test-key"
    interp.llm.supports_functions = False
    interp.conversation_history = False
    session = Session(interp)
    done = interp.bus.subscribe(TurnFinished)
    took = []
    for turn in range(turns):
        started = time.perf_counter()
        session.send(f"local{turn}")
        await done.get()
        await session.wait_idle()
        took.append(time.perf_counter() - started)
    await session.close()
    return took


def test_twenty_clients_twenty_five_turns(tmp_path):
    llm = EchoLLM()
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("INTERPRETER_API_KEY", None)
    command = [sys.executable, "-m", "oi_tui.cli", "--server", "--port", str(port), "--model", "openai/test-model",
               "--api_base", llm.url, "--api_key", "test-key", "--llm_supports_functions", "false",
               "--session-timeout", "0"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        process = psutil.Process(server.pid)
        url = f"ws://127.0.0.1:{port}/"

        async def round_of(turns: int) -> list[float]:
            async with aiohttp.ClientSession() as http:
                results = await asyncio.gather(*(run_client(http, url, n, turns) for n in range(CLIENTS)))
            return [t for client in results for t in client]

        asyncio.run(round_of(5))  # warm-up: imports, caches and pools reach their working size
        warm_rss = settled_rss(process)  # litellm is imported in the background: wait until that has landed
        started = time.perf_counter()
        loaded = asyncio.run(round_of(TURNS))
        elapsed = time.perf_counter() - started
        time.sleep(1)
        after_rss = process.memory_info().rss

        async def one_client_sequential() -> list[float]:
            async with aiohttp.ClientSession() as http:
                return await run_client(http, url, 99, 15)

        remote = asyncio.run(one_client_sequential())
        local = asyncio.run(in_process_turns(llm.url, 15))
        assert server.poll() is None, "the server died under load"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        llm.close()
    growth = (after_rss - warm_rss) / 2**20
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    print(f"\n{CLIENTS}x{TURNS} turns in {elapsed:.1f}s; median turn under load {median(loaded) * 1000:.0f} ms; "
          f"server RSS {warm_rss / 2**20:.0f} MB after warm-up, {after_rss / 2**20:.0f} MB after ({growth:+.1f} MB)")
    print(f"one client, sequential: median turn {median(remote) * 1000:.1f} ms over WebSocket vs "
          f"{median(local) * 1000:.1f} ms in process (overhead {(median(remote) - median(local)) * 1000:+.1f} ms)")
    assert len(loaded) == CLIENTS * TURNS
    assert growth < 40, f"server memory grew by {growth:.1f} MB over {CLIENTS * TURNS} turns"
    assert median(remote) - median(local) < 0.25, "the WebSocket path costs far more than the in-process path"
