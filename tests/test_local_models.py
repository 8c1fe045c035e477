"""oi_core.local_models / local_pull / local_check against scripted Ollama and LM Studio servers on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from oi_core.local_check import check_ollama_model, listed_as, settings_to_fill
from oi_core.local_models import (
    CONTEXT_WINDOW_CEILING,
    DEFAULT_CONTEXT_WINDOW,
    JAN,
    LLAMAFILE,
    LM_STUDIO,
    OLLAMA,
    LocalModelError,
    LocalServer,
    known_servers,
    normalize_url,
    ollama_host,
    probe,
    probe_all,
    probe_url,
    request_params,
    resolve,
)
from oi_core.local_pull import PullProgress, human_bytes, pull
from tests.local_servers import FakeLMStudio, FakeOllama, OllamaModel, PullPlan, StudioModel


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ollama():
    server = FakeOllama(OllamaModel("llama3.2:1b", context_length=131072, capabilities=("completion", "tools")),
                        OllamaModel("qwen2.5-coder:7b", size=4_683_087_332, family="qwen2", parameter_size="7.6B",
                                    quantization="Q4_K_M", context_length=8192))
    yield server
    server.close()


@pytest.fixture
def studio():
    server = FakeLMStudio(StudioModel("qwen/qwen3-8b", max_context_length=32768),
                          StudioModel("google/gemma-3-4b", max_context_length=None, tool_use=True))
    yield server
    server.close()


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("value,expected", [
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:9999", "http://127.0.0.1:9999"),
    ("gpu-box", "http://gpu-box:11434"),
    ("gpu-box:8000", "http://gpu-box:8000"),
    ("http://gpu-box", "http://gpu-box:80"),
    ("https://ollama.example.com", "https://ollama.example.com:443"),
    ("http://10.0.0.5:11434/", "http://10.0.0.5:11434"),
    ("[::1]:11500", "http://[::1]:11500"),
])
def test_ollama_host_reads_ollama_host_like_ollama(value, expected):
    assert ollama_host({"OLLAMA_HOST": value}) == expected


def test_known_servers_default_ports():
    servers = known_servers({})
    assert [(s.kind, s.url) for s in servers] == [
        (OLLAMA, "http://127.0.0.1:11434"),
        (LM_STUDIO, "http://127.0.0.1:1234/v1"),
        (JAN, "http://127.0.0.1:1337/v1"),
        (LLAMAFILE, "http://127.0.0.1:8080/v1"),
    ]
    assert known_servers({"OLLAMA_HOST": "127.0.0.1:5555"})[0].url == "http://127.0.0.1:5555"


def test_typed_urls_are_checked():
    assert normalize_url(" 192.168.1.20:8000/v1/ ") == "http://192.168.1.20:8000/v1"
    for bad in ("", "ftp://x", "http://", "http://host:99999"):
        with pytest.raises(LocalModelError):
            normalize_url(bad)


# ---------------------------------------------------------------- probing


async def test_probe_lists_ollama_models(ollama):
    status = await probe(LocalServer(OLLAMA, ollama.url))
    assert status.up and status.problem == ""
    assert [m.name for m in status.models] == ["llama3.2:1b", "qwen2.5-coder:7b"]
    assert status.models[1].size == 4_683_087_332 and status.models[1].detail == "7.6B Q4_K_M"
    assert status.summary == "2 models"


async def test_probe_of_a_stopped_server_says_so_quickly():
    port = free_port()
    started = asyncio.get_running_loop().time()
    status = await probe(LocalServer(LM_STUDIO, f"http://127.0.0.1:{port}/v1"))
    assert not status.up and status.models == ()
    assert status.problem == "nothing answers" and status.summary == "off"
    assert asyncio.get_running_loop().time() - started < 5


async def test_probe_of_the_wrong_kind_of_server(studio):
    status = await probe(LocalServer(OLLAMA, studio.url.removesuffix("/v1")))
    assert not status.up and "HTTP 404" in status.problem


async def test_probe_of_a_server_that_wants_a_key():
    keyed = FakeLMStudio("jan-nano", api_key="secret-key-123")
    try:
        status = await probe(LocalServer(JAN, keyed.url))
    finally:
        keyed.close()
    assert not status.up and status.summary == "needs a key"
    assert status.problem == "it asks for an API key (HTTP 401): pass the server's key with --api_key"


async def test_probe_all_runs_concurrently_and_keeps_order(ollama, studio):
    down = free_port()
    servers = [LocalServer(OLLAMA, ollama.url), LocalServer(LM_STUDIO, studio.url),
               LocalServer(JAN, f"http://127.0.0.1:{down}/v1")]
    statuses = await probe_all(servers=servers)
    assert [s.up for s in statuses] == [True, True, False]
    assert [m.name for m in statuses[1].models] == ["qwen/qwen3-8b", "google/gemma-3-4b"]


async def test_probe_all_adds_typed_addresses(ollama, studio):
    statuses = await probe_all([studio.url.removesuffix("/v1"), ollama.url], servers=[])
    assert [(s.server.kind.id, s.server.url, s.up) for s in statuses] == [
        ("custom", studio.url, True),  # a bare address that turned out to be an OpenAI-compatible /v1 API
        ("ollama", ollama.url, True),
    ]


async def test_probe_url_of_nothing():
    port = free_port()
    status = await probe_url(f"127.0.0.1:{port}")
    assert not status.up and "nothing answers" in status.problem


# ---------------------------------------------------------------- resolving


async def test_resolve_ollama_model_reads_context_and_tools(ollama):
    status = await probe(LocalServer(OLLAMA, ollama.url))
    big = await resolve(status, "llama3.2:1b")
    assert big.model == "ollama_chat/llama3.2:1b" and big.api_base == ollama.url
    assert big.reported_context == 131072
    assert big.context_window == CONTEXT_WINDOW_CEILING  # capped, and the note says so
    assert big.max_tokens == int(CONTEXT_WINDOW_CEILING * 0.2)
    assert big.supports_functions is True  # the server says the model takes tools
    assert "131,072" in big.notes[0]
    small = await resolve(status, "qwen2.5-coder:7b")
    assert (small.context_window, small.max_tokens, small.supports_functions) == (8192, 1638, False)
    assert small.settings() == {
        "llm.model": "ollama_chat/qwen2.5-coder:7b", "llm.api_base": ollama.url, "llm.supports_functions": False,
        "llm.supports_vision": False, "llm.context_window": 8192, "llm.max_tokens": 1638, "offline": True,
    }
    assert any(r.path == "/api/show" and r.body["model"] == "qwen2.5-coder:7b" for r in ollama.requests)


async def test_resolve_reads_vision_from_capabilities(ollama):
    ollama.add(OllamaModel("llava", capabilities=("completion", "vision")))
    choice = await resolve(LocalServer(OLLAMA, ollama.url), "llava:latest")
    assert choice.supports_vision is True and choice.supports_functions is False
    assert (await resolve(LocalServer(OLLAMA, ollama.url), "llama3.2:1b")).supports_vision is False


async def test_resolve_uses_num_ctx_from_the_modelfile(ollama):
    ollama.add(OllamaModel("tuned", context_length=131072, parameters="num_ctx 32768\nstop \"x\""))
    choice = await resolve(LocalServer(OLLAMA, ollama.url), "tuned:latest")
    assert choice.context_window == 32768


async def test_resolve_without_a_context_size_uses_the_stated_default(ollama):
    ollama.add(OllamaModel("mystery", context_length=None))
    choice = await resolve(LocalServer(OLLAMA, ollama.url), "mystery:latest")
    assert choice.context_window == DEFAULT_CONTEXT_WINDOW
    assert str(DEFAULT_CONTEXT_WINDOW) in choice.notes[0].replace(",", "")


async def test_resolve_missing_ollama_model_says_so(ollama):
    with pytest.raises(LocalModelError, match="nope is not on the Ollama server"):
        await resolve(LocalServer(OLLAMA, ollama.url), "nope")


async def test_resolve_lm_studio_model_from_its_metadata(studio):
    server = LocalServer(LM_STUDIO, studio.url)
    status = await probe(server)
    qwen = await resolve(status, "qwen/qwen3-8b")
    assert qwen.model == "openai/qwen/qwen3-8b" and qwen.api_base == studio.url
    assert (qwen.context_window, qwen.supports_functions) == (CONTEXT_WINDOW_CEILING, False)
    assert qwen.reported_context == 32768
    gemma = await resolve(status, "google/gemma-3-4b")
    assert gemma.context_window == DEFAULT_CONTEXT_WINDOW and gemma.supports_functions is True
    assert "/api/v0/models/qwen/qwen3-8b" in studio.paths()


# ---------------------------------------------------------------- pulling


async def test_pull_reports_bytes_percent_and_speed(ollama):
    ollama.pull_plan = PullPlan(layers=(50_000_000, 10_000), steps=10, step_delay=0.08)
    seen: list[PullProgress] = []
    async for progress in pull(ollama.url, "phi3"):
        seen.append(progress)
    assert seen[0].status == "pulling manifest" and seen[0].total == 0
    assert seen[-1].done and seen[-1].status == "success"
    downloading = [p for p in seen if p.total]
    assert downloading[-1].total == 50_010_000 and downloading[-1].completed == 50_010_000
    assert [p.completed for p in downloading] == sorted(p.completed for p in downloading)
    middle = next(p for p in downloading if 0.4 < (p.fraction or 0) < 0.7)
    assert middle.bytes_per_second > 0
    assert "MB of 50.0 MB" in middle.line and "%" in middle.line and "MB/s" in middle.line
    assert "phi3:latest" in ollama.models  # the server now lists it


async def test_pull_error_line_says_why(ollama):
    ollama.pull_plan = PullPlan(error="pull model manifest: file does not exist")
    with pytest.raises(LocalModelError) as caught:
        async for _ in pull(ollama.url, "no-such-model"):
            pass
    assert caught.value.message == (
        f"Ollama at 127.0.0.1:{ollama.port} could not download no-such-model: pull model manifest: file does not exist."
    )


async def test_pull_http_error_says_why(ollama):
    ollama.pull_plan = PullPlan(http_status=500, error="insufficient disk space")
    with pytest.raises(LocalModelError, match="could not download big: insufficient disk space"):
        async for _ in pull(ollama.url, "big"):
            pass


async def test_pull_from_a_stopped_server():
    port = free_port()
    with pytest.raises(LocalModelError, match="nothing answers"):
        async for _ in pull(f"http://127.0.0.1:{port}", "x"):
            pass


async def test_cancelling_a_pull_closes_the_download(ollama):
    ollama.pull_plan = PullPlan(layers=(1_000_000_000,), steps=400, step_delay=0.05)

    async def consume() -> None:
        async for _ in pull(ollama.url, "huge"):
            pass

    task = asyncio.create_task(consume())
    await asyncio.to_thread(ollama.pull_started.wait, 10)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(ollama.pull_disconnected.wait, 10), "the server kept sending after cancel"
    assert "huge:latest" not in ollama.models


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 1_500, 4_683_087_332)] == ["512 B", "1.5 kB", "4.7 GB"]


# ---------------------------------------------------------------- --model ollama/NAME


async def test_check_finds_the_model_and_fills_only_unset_settings(ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama.port}")
    check = await check_ollama_model("ollama/llama3.2:1b", None)
    assert check.state == "ready" and check.host == ollama.url and check.choice is not None
    llm = type("L", (), {"api_base": None, "supports_functions": None, "supports_vision": False,
                         "context_window": 3000, "max_tokens": None})()
    assert settings_to_fill(llm, check) == {
        "llm.api_base": ollama.url, "llm.supports_functions": True, "llm.max_tokens": 600,  # 20 % of the user's 3000
    }


async def test_check_missing_and_down(ollama):
    missing = await check_ollama_model("ollama/llama3.1", ollama.url + "/v1")
    assert missing.state == "missing" and missing.host == ollama.url
    assert missing.message == f"llama3.1 is not on the Ollama server at 127.0.0.1:{ollama.port}."
    assert missing.available == ("llama3.2:1b", "qwen2.5-coder:7b")
    port = free_port()
    down = await check_ollama_model("ollama_chat/x", f"http://127.0.0.1:{port}")
    assert down.state == "down" and "ollama serve" in down.message
    llm = type("L", (), {"api_base": None, "supports_functions": None, "supports_vision": None,
                         "context_window": None, "max_tokens": None})()
    assert settings_to_fill(llm, down) == {
        "llm.api_base": f"http://127.0.0.1:{port}", "llm.supports_functions": False, "llm.supports_vision": False,
        "llm.context_window": DEFAULT_CONTEXT_WINDOW, "llm.max_tokens": int(DEFAULT_CONTEXT_WINDOW * 0.2),
    }
    assert (await check_ollama_model("gpt-4o", None)).state == "skipped"


def test_listed_as():
    assert listed_as("llama3.1", ["llama3.1:latest"]) == "llama3.1:latest"
    assert listed_as("llama3.1:8b", ["llama3.1:latest"]) is None


def test_request_params_send_ollama_models_to_the_checked_host(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11500")
    assert request_params("ollama/llama3.1", None, 16384) == {
        "model": "ollama_chat/llama3.1", "api_base": "http://gpu-box:11500", "num_ctx": 16384}
    assert request_params("ollama_chat/x", "http://h:1/v1", None) == {"model": "ollama_chat/x", "api_base": "http://h:1"}
    assert request_params("openai/x", "http://h:1/v1", 8000) is None


async def test_the_real_default_ports_are_found():
    """The point here is the default ports themselves, so they are bound for real (a busy one fails loudly)."""
    servers = []
    try:
        servers.append(FakeOllama("llama3.2:1b", port=11434))
        for name, port in (("qwen/qwen3-8b", 1234), ("jan-nano-4b", 1337), ("model.gguf", 8080)):
            servers.append(FakeLMStudio(name, port=port))
        statuses = await probe_all(environ={})  # no OLLAMA_HOST: Ollama's own default
    finally:
        for server in servers:
            server.close()
    assert [(s.server.kind, s.server.url, s.up, [m.name for m in s.models]) for s in statuses] == [
        (OLLAMA, "http://127.0.0.1:11434", True, ["llama3.2:1b"]),
        (LM_STUDIO, "http://127.0.0.1:1234/v1", True, ["qwen/qwen3-8b"]),
        (JAN, "http://127.0.0.1:1337/v1", True, ["jan-nano-4b"]),
        (LLAMAFILE, "http://127.0.0.1:8080/v1", True, ["model.gguf"]),
    ]
