"""A message sent right after launch does not wait for litellm's import (oi_core.llm_lean), and reads the same."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from oi_core.errors import LlmError
from oi_core.llm import Llm
from tests.llm_server import Reply, ScriptedLLM

SCENARIOS = {
    "text": Reply(text="Hello **world**, this streams in pieces.", chunk_size=3),
    "tool call": Reply(tool_language="python", tool_code="print('hi')", chunk_size=5),
    "cut off": Reply(text="cut", finish_reason="length"),
    "401": Reply(status=401, error_message="Incorrect API key provided"),
    "404": Reply(status=404, error_message="The model bench does not exist"),
    "429": Reply(status=429, error_message="Rate limit reached"),
    "500": Reply(status=500, error_message="boom"),
    "400": Reply(status=400, error_message="bad request: context too long"),
    "dropped": Reply(text="hello there friend", chunk_size=2, drop_after_chunks=3),
    "malformed": Reply(text="hello there", chunk_size=2, malformed_after_chunks=3),
    "html page": Reply(raw_body=b"<html><body>login</body></html>", content_type="text/html"),
    "not events": Reply(raw_body=b"garbage, not events\n\n", content_type="text/event-stream"),
    "cut after the first event": Reply(text="abc", chunk_size=1, drop_after_chunks=1),
    "empty": Reply(text=""),
}


async def _collect(llm: Llm, source) -> tuple[list, str | None]:
    deltas = []
    try:
        async for delta in source([{"role": "user", "content": "x"}], None):
            deltas.append(delta)
    except LlmError as exc:
        return deltas, exc.message
    return deltas, None


@pytest.mark.parametrize("name", [*SCENARIOS, "refused"])
async def test_both_paths_give_the_same_deltas_and_the_same_sentences(llm: ScriptedLLM, name: str) -> None:
    results = []
    for lean in (True, False):
        client = Llm()
        client.model, client.api_base, client.api_key, client.max_retries = "openai/bench", llm.url, "sk-test", 0
        if name == "refused":
            client.api_base = "http://127.0.0.1:9/v1"
        else:
            llm.queue(SCENARIOS[name])
        results.append(await _collect(client, client._lean_deltas if lean else client._litellm_deltas))
    (lean_deltas, lean_error), (litellm_deltas, litellm_error) = results
    for delta in lean_deltas + litellm_deltas:  # the server makes a new call id per response
        for call in delta.tool_calls:
            call.id = "call" if call.id else None
    assert lean_deltas == litellm_deltas
    assert lean_error == litellm_error
    if name in ("text", "tool call", "cut off"):
        assert lean_error is None and lean_deltas
    else:
        assert lean_error, "a failure is reported"
    if name == "text":
        bodies = [{k: v for k, v in request.items() if k != "_headers"} for request in llm.requests[-2:]]
        assert bodies[0] == bodies[1], "the same request body as litellm sends"


def test_first_delta_arrives_while_litellm_is_still_importing(llm: ScriptedLLM) -> None:
    llm.queue(Reply(text="EARLY-TOKEN arrives before litellm.", chunk_size=8))
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from oi_core.llm import Llm
        from oi_core import llm_lean

        async def main():
            llm = Llm()
            llm.model, llm.api_base, llm.api_key = "openai/bench", {llm.url!r}, "k"
            llm.warm_up()  # litellm's import starts, as at app start
            started = time.perf_counter()
            assert llm.uses_functions() is False and llm.effective_context_window() == 8000
            async for delta in llm.stream([{{"role": "user", "content": "hi"}}]):
                if delta.content:
                    print("first", time.perf_counter() - started, llm_lean.litellm_ready(), flush=True)
                    break
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    _, seconds, ready = out.stdout.split()
    assert ready == "False", "the first token came before litellm finished importing"
    assert float(seconds) < 2.0  # generous: litellm's import alone takes ~3 s (much more on a busy machine)


def test_what_litellm_would_look_up_is_read_from_its_table() -> None:
    from oi_core import llm_lean

    known, unknown = Llm(), Llm()
    known.model, unknown.model = "gpt-4o", "openai/bench"
    assert llm_lean.supports(known, "supports_function_calling") and llm_lean.supports(known, "supports_vision")
    assert llm_lean.context_window(known) == 128000
    assert llm_lean.cost(known, 1000, 1000) > 0
    assert not llm_lean.supports(unknown, "supports_function_calling") and llm_lean.context_window(unknown) is None
    assert llm_lean.openai_compatible(Llm()) == "gpt-4o"  # the default model
    other = Llm()
    for model in ("anthropic/claude-3-5-sonnet", "ollama/llama3", "azure/gpt-4o", "claude-3-opus"):
        other.model = model
        assert llm_lean.openai_compatible(other) is None, model


async def test_the_certificate_store_is_built_once_for_all_requests(llm: ScriptedLLM, monkeypatch) -> None:
    """Building a TLS context costs ~20 ms of CPU: the lean path (and the local-server client) share one."""
    import httpx

    from oi_core import tls

    built = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: built.append(1) or real(*a, **k))
    tls.context.cache_clear()
    client = Llm()
    client.model, client.api_base, client.api_key, client.max_retries = "openai/bench", llm.url, "sk-test", 0
    for _ in range(3):
        llm.queue(SCENARIOS["text"])
        deltas, error = await _collect(client, client._lean_deltas)
        assert error is None and deltas
    assert len(built) == 1


def _run_script(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_warm_up_loads_all_a_first_lean_request_needs(llm: ScriptedLLM) -> None:
    """A request sent during the warm-up would wait for these imports behind litellm's (the GIL, import locks)."""
    llm.queue(Reply(text="hello", chunk_size=2))
    new_modules, tls_builds = _run_script(f"""
        import asyncio, sys
        import httpx
        from oi_core import llm_lean
        from oi_core.llm import Llm

        llm_lean.lean_import_warm()
        built = []
        real = httpx.create_ssl_context
        httpx.create_ssl_context = lambda *a, **k: built.append(1) or real(*a, **k)
        before = set(sys.modules)
        llm = Llm()
        llm.model, llm.api_base, llm.api_key = "openai/bench", {llm.url!r}, "k"

        async def main():
            return [d async for d in llm_lean.lean_deltas(llm, [{{"role": "user", "content": "hi"}}], None, "k")]
        assert asyncio.run(main())
        print(len([m for m in set(sys.modules) - before if not m.startswith("oi_core")]), len(built))
    """)
    assert new_modules == "0", "a first lean request still imports modules the warm-up could have loaded"
    assert tls_builds == "0", "the TLS store is built by the warm-up, not by the first request"


def test_litellm_import_waits_for_an_early_lean_stream_to_end(llm: ScriptedLLM) -> None:
    """litellm's import (seconds of GIL) would halve an early first turn's share of the CPU: it starts after it."""
    llm.queue(Reply(text="x" * 40, chunk_size=2, chunk_delay=0.1))  # ~2 s of streaming
    during, after, ready = _run_script(f"""
        import asyncio, sys, time
        from oi_core import llm_lean
        from oi_core.llm import Llm

        async def main():
            llm = Llm()
            llm.model, llm.api_base, llm.api_key = "openai/bench", {llm.url!r}, "k"
            warm = None
            during = False
            async for delta in llm.stream([{{"role": "user", "content": "hi"}}]):
                if warm is None:
                    warm = llm.warm_up()  # the app's warm-up, while the first reply streams
                during = during or "litellm" in sys.modules
            await asyncio.to_thread(warm.join, 150)
            print(during, "litellm" in sys.modules, llm_lean.litellm_ready())
        asyncio.run(main())
    """)
    assert during == "False", "litellm's import started while the early lean stream was running"
    assert after == "True" and ready == "True", "litellm is imported once the stream is over"


async def test_the_import_also_waits_a_quiet_moment_after_the_stream(llm: ScriptedLLM) -> None:
    """A stop (Esc) ends the stream: the import starting right then delayed the frame that says "ready"."""
    import time

    from oi_core import llm_lean

    llm.queue(SCENARIOS["text"])
    client = Llm()
    client.model, client.api_base, client.api_key = "openai/bench", llm.url, "sk-test"
    deltas, error = await _collect(client, client._lean_deltas)
    assert error is None and deltas
    started = time.monotonic()
    assert await asyncio.to_thread(llm_lean.wait_until_idle, 10.0, 0.6)
    assert time.monotonic() - started >= 0.4, "the import would start the moment the stream ended"


async def test_a_server_the_user_named_streams_without_litellm_even_once_it_is_imported(llm: ScriptedLLM) -> None:
    """litellm would pass such a request through unchanged at ~30x the CPU per chunk; a model it knows keeps it."""
    from oi_core import llm_lean
    from oi_core.llm import import_litellm

    await asyncio.to_thread(import_litellm)
    assert llm_lean.litellm_ready()
    agents = {}
    for model in ("openai/my-local-model", "openai/gpt-4o"):
        client = Llm()
        client.model, client.api_base, client.api_key, client.max_retries = model, llm.url, "sk-test", 0
        llm.queue(SCENARIOS["text"])
        deltas = []
        async for delta in client.stream([{"role": "user", "content": "x"}]):
            deltas.append(delta)
        assert "".join(d.content or "" for d in deltas) == "Hello **world**, this streams in pieces."
        agents[model] = llm.requests[-1]["_headers"].get("user-agent", "")
    assert "httpx" in agents["openai/my-local-model"], agents
    assert "OpenAI" in agents["openai/gpt-4o"], agents
    no_base = Llm()
    no_base.model = "openai/my-local-model"
    assert not llm_lean.streams_lean(no_base), "without a server of the user's, litellm decides"


def test_the_import_waits_for_a_pause_in_typing() -> None:
    """Typed right after launch, keys came back up to ~170 ms late while litellm imported: it waits for a pause."""
    import time

    from oi_core import llm_lean

    llm_lean.user_typed()
    started = time.monotonic()
    assert not llm_lean.wait_until_idle(0.5, 0.0), "a key a moment ago: not idle yet"
    assert llm_lean.wait_until_idle(10.0, 0.0)
    assert time.monotonic() - started >= llm_lean.QUIET_AFTER_TYPING - 0.05


async def test_the_app_tells_the_core_each_key(make_interpreter, pinned_look, no_kernel_warm_up) -> None:
    import time

    from oi_core import llm_lean
    from oi_tui.app import OiApp

    app = OiApp(make_interpreter())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(llm_lean.QUIET_AFTER_TYPING + 0.1)
        assert await asyncio.to_thread(llm_lean.wait_until_idle, 0.2, 0.0), "no key yet"
        await pilot.press("h")
        typed = time.monotonic()
        assert not await asyncio.to_thread(llm_lean.wait_until_idle, 0.2, 0.0), "a key: the import waits"
        assert time.monotonic() - typed < llm_lean.QUIET_AFTER_TYPING


@pytest.mark.parametrize("model, api_base, waits", [
    ("openai/bench", "http://127.0.0.1:9/v1", True),  # streams without litellm: its import waits for a pause
    ("anthropic/claude-sonnet-4-20250514", None, False),  # needs litellm for its first request: no waiting
])
def test_only_a_model_that_streams_without_litellm_delays_its_import_for_typing(model, api_base, waits) -> None:
    started_while_typing = _run_script(f"""
        import sys, time
        from oi_core import llm_lean
        from oi_core.llm import Llm

        llm = Llm()
        llm.model, llm.api_base, llm.api_key = {model!r}, {api_base!r}, "k"
        llm_lean.user_typed()
        llm.warm_up()
        deadline = time.monotonic() + 60
        while "litellm" not in sys.modules and time.monotonic() < deadline:
            llm_lean.user_typed()  # a key every 0.1 s: never a pause
            time.sleep(0.1)
            if {waits!r} and time.monotonic() > deadline - 55:  # 5 s of typing is enough to tell
                break
        print("litellm" in sys.modules)
    """)
    assert started_while_typing == [str(not waits)]


def test_the_gc_freeze_waits_as_long_as_the_import_may_be_held_back() -> None:
    """Typing can hold litellm's import back up to IMPORT_WAIT_LIMIT: the freeze of its objects must not give up
    before (a 60 s wait once did, leaving ~300,000 objects to every full collection)."""
    waited = _run_script("""
        import time
        from oi_core import llm_lean
        from oi_tui.gc_policy import wait_for_litellm

        llm_lean.IMPORT_WAIT_LIMIT = -59.7  # so the default wait is IMPORT_WAIT_LIMIT + 60 s = 0.3 s
        started = time.monotonic()
        print(wait_for_litellm(), round(time.monotonic() - started, 1))
    """)
    assert waited[0] == "False" and float(waited[1]) < 5, waited
