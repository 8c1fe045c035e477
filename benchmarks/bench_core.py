"""Core figures: `import oi_core` time, and a warm full turn against a zero-latency scripted server.

Run: python benchmarks/bench_core.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def import_time(runs: int = 7) -> float:
    code = "import time; t = time.perf_counter(); from oi_core import interpreter; print(time.perf_counter() - t)"
    samples = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(runs)]
    return statistics.median(samples)


async def raw_stream(model: str, api_base: str, messages: list[dict]) -> None:
    import litellm

    response = await litellm.acompletion(model=model, api_base=api_base, api_key="x", messages=messages, stream=True)
    async for _ in response:
        pass


def turn_figures(language: str, runs: int = 15) -> dict[str, float]:
    from oi_core import OpenInterpreter
    from tests.llm_server import ScriptedLLM

    server = ScriptedLLM()
    interp = OpenInterpreter()
    interp.llm.model, interp.llm.api_base, interp.llm.api_key = "openai/bench", server.url, "x"
    interp.llm.supports_functions = interp.llm.supports_vision = False
    interp.llm.context_window = 32000
    interp.conversation_history = False
    interp.auto_run = True
    code = "print(6*7)" if language == "python" else "echo $((6*7))"
    reply = f"Let me compute that.\n```{language}\n{code}\n```"
    server.default.text = "The answer is 42."

    def one_turn() -> float:
        interp.messages = []
        server.queue(reply, "The answer is 42.")
        start = time.perf_counter()
        interp.chat("What is 6*7?", display=False)
        return time.perf_counter() - start

    one_turn()  # warm: litellm imported, kernel started, connections open
    turns = [one_turn() for _ in range(runs)]

    loop = interp._loop_thread
    messages = [{"role": "user", "content": "What is 6*7?"}]

    def raw_llm() -> float:
        server.queue(reply)
        start = time.perf_counter()
        loop.run(raw_stream("openai/bench", server.url, messages))
        return time.perf_counter() - start

    raw_llm()
    llm_calls = [raw_llm() for _ in range(runs)]

    def raw_run() -> float:
        start = time.perf_counter()
        interp.computer.run(language, code)
        return time.perf_counter() - start

    runs_ = [raw_run() for _ in range(runs)]
    interp.terminate()
    server.close()
    turn = statistics.median(turns)
    llm = statistics.median(llm_calls)
    run = statistics.median(runs_)
    return {"turn": turn, "llm_call": llm, "run": run, "overhead": turn - 2 * llm - run}


def main() -> None:
    print(f"import oi_core (median of 7 fresh processes): {import_time() * 1000:.0f} ms   (target < 300 ms; reference 3.4 s)")
    for language in ("python", "shell"):
        figures = turn_figures(language)
        print(
            f"warm full turn, {language}: {figures['turn'] * 1000:.1f} ms total = 2 LLM calls "
            f"({figures['llm_call'] * 1000:.1f} ms each through raw litellm) + run ({figures['run'] * 1000:.1f} ms) "
            f"+ our overhead {figures['overhead'] * 1000:.1f} ms   (target < 100 ms; reference 500 ms)"
        )


if __name__ == "__main__":
    main()
