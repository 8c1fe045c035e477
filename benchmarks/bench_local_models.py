"""How long the local model picker waits for its answers, each figure next to its floor.

Drives the real path against scripted servers on loopback (tests/local_servers.py): `probe_all` over four
servers (Ollama and LM Studio up, two ports with nothing listening), `resolve` of an Ollama model
(`/api/show`), and `pull` of a 2 GB model streamed as 400 progress lines. Floors, measured in the same run:
one httpx GET of `/api/tags` (what any client pays to ask one server; TLS context built once, as ours is) and reading the same 400 lines
with httpx directly (what any client pays to follow the download).

    python benchmarks/bench_local_models.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from oi_core.local_models import JAN, LLAMAFILE, LM_STUDIO, OLLAMA, LocalServer, probe_all, resolve, tls_context  # noqa: E402
from oi_core.local_pull import pull  # noqa: E402
from tests.local_servers import FakeLMStudio, FakeOllama, OllamaModel, PullPlan  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def timed(make) -> float:
    started = time.perf_counter()
    await make()
    return (time.perf_counter() - started) * 1000


async def main(rounds: int) -> None:
    import httpx

    ollama = FakeOllama(*(OllamaModel(f"model-{n}:7b") for n in range(12)))
    studio = FakeLMStudio("qwen/qwen3-8b", "google/gemma-3-4b")
    servers = [LocalServer(OLLAMA, ollama.url), LocalServer(LM_STUDIO, studio.url),
               LocalServer(JAN, f"http://127.0.0.1:{free_port()}/v1"),
               LocalServer(LLAMAFILE, f"http://127.0.0.1:{free_port()}/v1")]
    try:
        async def floor_get() -> None:
            async with httpx.AsyncClient(trust_env=False, verify=tls_context()) as client:
                (await client.get(f"{ollama.url}/api/tags")).raise_for_status()

        async def probe() -> None:
            statuses = await probe_all(servers=servers)
            assert [s.up for s in statuses] == [True, True, False, False]

        async def details() -> None:
            await resolve(servers[0], "model-3:7b")

        ollama.pull_plan = PullPlan(layers=(2_000_000_000,), steps=399, step_delay=0)

        async def floor_lines() -> None:
            async with httpx.AsyncClient(trust_env=False, timeout=None, verify=tls_context()) as client:
                async with client.stream("POST", f"{ollama.url}/api/pull", json={"model": "big"}) as response:
                    async for _ in response.aiter_lines():
                        pass

        async def download() -> None:
            async for _ in pull(ollama.url, "big"):
                pass

        figures = {}
        for name, make in (("floor: one GET /api/tags", floor_get), ("probe_all, 4 servers (2 down)", probe),
                           ("resolve (POST /api/show)", details), ("floor: read 400 pull lines", floor_lines),
                           ("pull, 400 progress lines", download)):
            await make()  # warm
            figures[name] = statistics.median([await timed(make) for _ in range(rounds)])
    finally:
        ollama.close()
        studio.close()
    print(f"local models, median of {rounds} rounds")
    print(f"  probe_all, 4 servers (2 down)  {figures['probe_all, 4 servers (2 down)']:7.1f} ms"
          f"   floor (one GET /api/tags)  {figures['floor: one GET /api/tags']:7.1f} ms")
    print(f"  resolve (POST /api/show)       {figures['resolve (POST /api/show)']:7.1f} ms"
          f"   floor (one GET /api/tags)  {figures['floor: one GET /api/tags']:7.1f} ms")
    print(f"  pull, 400 progress lines       {figures['pull, 400 progress lines']:7.1f} ms"
          f"   floor (httpx reads them)   {figures['floor: read 400 pull lines']:7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    asyncio.run(main(parser.parse_args().rounds))
