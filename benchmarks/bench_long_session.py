"""A long session through the Python API: our own time per turn as the conversation grows, next to its floor.

Each turn is what a working session looks like: the model calls the tool (Python code that prints a line),
the code runs in the real kernel, and the model answers in a sentence. That is four messages per turn, so
250 turns reach 1,000 messages. The context window is small enough that trimming works hard from a few
hundred messages on (the case that used to be quadratic).

For every turn we measure the wall time of `interpreter.chat()` and the time spent running the code. The
floor is the LLM library's own time for the same requests: right after each turn, the requests the scripted
server received during it are replayed against the same server with the same replies (interleaved, so both
see the same machine load) through the library our path used for them: litellm alone, or, while the core
streams without litellm (oi_core.llm_lean, which the Python API does until litellm is imported), httpx alone
reading the same event stream with one kept client. Our overhead per turn = turn - code run - floor. The
litellm-alone time is printed too, for comparison with a client built on litellm.

The parts of our time are measured inside the real functions, each next to its own floor from the same turn:
  build the request  - floor: serialising the request bodies that were sent (json.dumps), which any client does;
  autosave           - floor: appending the turn's new messages to a file as JSON lines and fsync'ing it once;
  checkpoints        - floor: two stat passes over the project's files and folders (before and after the run),
                       the least a check that nothing changed can do;
  LLM client setup   - floor 0: a kept client costs nothing per request (httpx.AsyncClient built during the turn;
                       oi_core.llm_lean used to build one per request with its own TLS context, ~22 ms each).
Autosave writes in a thread beside the turn (only its last write and fsync are waited for), and what a run changed
is recorded beside the next request, so the parts do not add up to the overhead. The session runs in a fresh project folder of --files files (checkpoints cover it), with
its own state folder.

Run: python benchmarks/bench_long_session.py [--messages 1000] [--window 16000] [--files 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.llm_server import Reply, ScriptedLLM  # noqa: E402

MESSAGES_PER_TURN = 4
REPORT_AT = (100, 500, 1000)

#: Parts of our time per turn, measured inside the real functions (any thread): where the overhead goes.
PARTS: dict[str, float] = {}


def measure_parts() -> None:
    import functools
    import inspect

    from oi_core import checkpoints, conversations, respond

    import httpx

    targets = [("build the request", respond.Responder, "_request"), ("autosave", conversations, "autosave"),
               ("autosave", conversations, "make_durable"),  # the writes, and the fsync once per turn
               ("LLM client setup", httpx.AsyncClient, "__init__")]  # only ours counts: floors run after the turn
    if hasattr(checkpoints, "RunCheckpoints"):  # the record after a run is worked out beside the next request
        targets += [("checkpoints", checkpoints.RunCheckpoints, "before_run"),
                    ("checkpoints", checkpoints.RunCheckpoints, "_record")]
    for label, owner, name in targets:
        real = getattr(owner, name, None)
        if real is None:  # an older core without this part
            continue
        PARTS.setdefault(label, 0.0)
        if inspect.iscoroutinefunction(real):
            async def timed(*args, _real=real, _label=label, **kwargs):
                start = time.perf_counter()
                try:
                    return await _real(*args, **kwargs)
                finally:
                    PARTS[_label] += time.perf_counter() - start
        else:
            def timed(*args, _real=real, _label=label, **kwargs):
                start = time.perf_counter()
                try:
                    return _real(*args, **kwargs)
                finally:
                    PARTS[_label] += time.perf_counter() - start
        setattr(owner, name, functools.wraps(real)(timed))


def replies(turn: int) -> tuple[Reply, Reply]:
    code = f"values = list(range({turn % 7 + 3}))\nprint('turn {turn}:', sum(values))"
    return Reply(tool_language="python", tool_code=code, chunk_size=16), Reply(
        text=f"Turn {turn} printed the sum of a short range; nothing else to do.", chunk_size=16)


def make_project(folder: Path, files: int) -> None:
    """A small project: `files` text files in a few folders (what the checkpoints cover)."""
    for index in range(files):
        path = folder / f"pkg{index % 10}" / f"module_{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE_{index} = {index}\n" * 20, encoding="utf-8")


def stat_floor(folder: Path) -> float:
    """One stat of every file and folder under `folder`: the least a check that nothing changed can do."""
    start = time.perf_counter()
    for top, dirs, names in os.walk(folder):
        for name in dirs + names:
            os.lstat(os.path.join(top, name))
    return time.perf_counter() - start


def autosave_floor(path: Path, messages: list[dict[str, Any]]) -> float:
    """Append this turn's new messages as JSON lines and fsync once."""
    start = time.perf_counter()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages))
        handle.flush()
        os.fsync(handle.fileno())
    return time.perf_counter() - start


def request_floor(requests: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for body in requests:
        json.dumps(body)
    return time.perf_counter() - start


def run_session(server: ScriptedLLM, target: int, window: int, folder: str, project: Path) -> list[dict[str, Any]]:
    from oi_core import OpenInterpreter, llm_lean

    interp = OpenInterpreter()
    interp.llm.model, interp.llm.api_base, interp.llm.api_key = "openai/bench", server.url, "x"
    interp.llm.supports_functions, interp.llm.supports_vision = True, False
    interp.llm.context_window = window
    interp.llm.max_tokens = 1000
    interp.auto_run = True
    interp.conversation_history = True
    interp.conversation_history_path = folder

    run_seconds: list[float] = []
    arun = interp.computer.arun

    async def timed_arun(*args: Any, **kwargs: Any):  # the code's own run time is neither ours nor litellm's
        start = time.perf_counter()
        try:
            async for chunk in arun(*args, **kwargs):
                yield chunk
        finally:
            run_seconds.append(time.perf_counter() - start)

    interp.computer.arun = timed_arun  # type: ignore[method-assign]
    floor_loop = asyncio.Runner()  # closing it finishes litellm's async generators (no "Task was destroyed")
    turns: list[dict[str, Any]] = []
    turn = 0
    appended = Path(folder).parent / "floor-append.jsonl"
    try:
        while len(interp.messages) < target:
            size = len(interp.messages)
            first_request = len(server.requests)
            server.queue(*replies(turn))
            before_runs = len(run_seconds)
            parts_before = dict(PARTS)
            start, cpu = time.perf_counter(), time.process_time()
            lean = llm_lean.use_lean(interp.llm)
            interp.chat(f"Step {turn}: sum a short range in Python and tell me the result.", display=False)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            parts = {k: v - parts_before.get(k, 0.0) for k, v in PARTS.items()}
            requests = server.requests[first_request:]
            floor_cpu = time.process_time()
            with_litellm = floor_loop.run(litellm_alone(server, requests, turn))
            floor_cpu = time.process_time() - floor_cpu
            httpx_cpu = time.process_time()
            with_httpx = floor_loop.run(httpx_alone(server, requests, turn))
            httpx_cpu = time.process_time() - httpx_cpu
            floor = with_httpx if lean else with_litellm
            floor_cpu = httpx_cpu if lean else floor_cpu
            floors = {"build the request": request_floor(requests),
                      "autosave": autosave_floor(appended, interp.messages[size:]),
                      "checkpoints": stat_floor(project) + stat_floor(project), "LLM client setup": 0.0}
            turns.append({"size": size, "wall": wall, "run": sum(run_seconds[before_runs:]), "floor": floor,
                          "litellm": with_litellm, "lean": lean, "parts": parts, "floors": floors,
                          "cpu": cpu, "floor_cpu": floor_cpu})
            turn += 1
    finally:
        interp.terminate()
        for client in _HTTP.values():
            floor_loop.run(client.aclose())
        floor_loop.close()
    return turns


async def litellm_alone(server: ScriptedLLM, requests: list[dict[str, Any]], turn: int) -> float:
    """litellm alone, the same requests, the same replies: the floor for one turn."""
    import litellm

    server.queue(*replies(turn))
    start = time.perf_counter()
    for body in requests:
        params = {k: body[k] for k in ("messages", "tools", "temperature", "max_tokens") if k in body}
        response = await litellm.acompletion(model="openai/bench", api_base=server.url, api_key="x", stream=True,
                                             stream_options={"include_usage": True}, **params)
        async for _ in response:
            pass
    return time.perf_counter() - start


_HTTP: dict[int, Any] = {}  # one kept httpx client per floor loop


async def httpx_alone(server: ScriptedLLM, requests: list[dict[str, Any]], turn: int) -> float:
    """httpx alone (one kept client), the same requests, the same replies: the floor while the core streams lean."""
    import httpx

    loop = asyncio.get_running_loop()
    client = _HTTP.get(id(loop))
    if client is None:
        client = _HTTP[id(loop)] = httpx.AsyncClient(timeout=60)
    server.queue(*replies(turn))
    start = time.perf_counter()
    for body in requests:
        async with client.stream("POST", f"{server.url}/chat/completions", json=body,
                                 headers={"Authorization": "Bearer x"}) as response:
            async for _ in response.aiter_lines():
                pass
    return time.perf_counter() - start


def report(turns: list[dict[str, Any]]) -> None:
    lean = sum(t["lean"] for t in turns)
    print(f"the core streamed {lean} of {len(turns)} turns without litellm (floor: httpx alone), "
          f"{len(turns) - lean} through litellm (floor: litellm alone)")
    print(f"{'messages':>9} {'turn (median)':>14} {'code run':>9} {'floor':>9} {'our overhead':>13} "
          f"{'our CPU':>8} {'(litellm alone)':>16}")
    for at in REPORT_AT:
        near = [t for t in turns if abs(t["size"] - at) <= 40]
        if not near:
            continue
        wall = statistics.median(t["wall"] for t in near)
        run = statistics.median(t["run"] for t in near)
        floor = statistics.median(t["floor"] for t in near)
        ours = statistics.median(t["wall"] - t["run"] - t["floor"] for t in near)
        litellm = statistics.median(t["litellm"] for t in near)
        ours_cpu = statistics.median(t["cpu"] - t["floor_cpu"] for t in near)
        parts = "  ".join(f"{label} {statistics.median(t['parts'][label] for t in near) * 1000:.1f} "
                          f"(floor {statistics.median(t['floors'][label] for t in near) * 1000:.1f})"
                          for label in PARTS)
        print(f"{at:>9,} {wall * 1000:>12.1f}ms {run * 1000:>7.1f}ms {floor * 1000:>7.1f}ms {ours * 1000:>11.1f}ms"
              f" {ours_cpu * 1000:>6.1f}ms {litellm * 1000:>14.1f}ms   of which (ms): {parts}")
    print("target: our overhead <= 20 ms per turn at 1,000 messages, flat as the conversation grows")
    print("(autosave runs in a thread; chat() returns once the turn is saved, so it counts here)")
    print("our CPU: this process's CPU time during the turn minus during the floor's replay; the scripted server's")
    print("threads count in both, the kernel's client side (jupyter_client, in this process) only in the turn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="grow the conversation to this many messages")
    parser.add_argument("--window", type=int, default=16000, help="the model's context window in tokens")
    parser.add_argument("--files", type=int, default=300, help="files in the project folder the session runs in")
    args = parser.parse_args()
    server = ScriptedLLM()
    measure_parts()
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="oi-bench-session-") as folder:
        project, state = Path(folder) / "project", Path(folder) / "state"
        project.mkdir()
        make_project(project, args.files)
        time.sleep(3.1)  # a real project's files were not written this second (checkpoint_git.RACY_NS)
        os.environ["XDG_STATE_HOME"] = str(state)  # the checkpoints' shadow repositories, thrown away after
        os.chdir(project)
        try:
            start = time.perf_counter()
            turns = run_session(server, args.messages + 2 * MESSAGES_PER_TURN * 5, args.window,
                                str(Path(folder) / "conversations"), project)
        finally:
            os.chdir(home)
        print(f"{len(turns)} turns, {turns[-1]['size'] + MESSAGES_PER_TURN:,} messages in "
              f"{time.perf_counter() - start:.1f} s; context window {args.window:,} tokens; "
              f"a project of {args.files:,} files")
    server.close()
    report(turns)


if __name__ == "__main__":
    main()
