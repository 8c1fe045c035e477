"""`--model ollama/NAME` without the picker, in plain mode: the check, the download offer, the same host for
completions, no API key, and `offline` proven by a socket guard that fails anything off loopback."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

from oi_core import OpenInterpreter
from oi_core.local_models import DEFAULT_CONTEXT_WINDOW
from oi_tui.local_plain import prepare_local_model
from tests.local_servers import FakeOllama, OllamaModel, PullPlan
from tests.offline_guard import read_report

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = (
    "import sys; sys.path.insert(0, {root!r}); import tests.offline_guard as guard; guard.install({report!r}); "
    "from oi_tui.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_cli(tmp_path: Path, env_extra: dict[str, str], *args: str, stdin: str = "") -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """oi-tui in a child process with the offline guard installed before anything is imported."""
    report = tmp_path / "connections.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}  # the app must set these itself
    env.update(env_extra)
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH.format(root=str(ROOT), report=str(report)), *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )
    return result, read_report(str(report))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ollama_host_on_a_non_default_port_runs_a_turn_offline_with_no_key(tmp_path):
    """The reported defect: `--plain -m ollama/NAME` with OLLAMA_HOST set said "No API key"; and the reference
    listed models on OLLAMA_HOST but completed against localhost. Here both go to OLLAMA_HOST, and the whole
    turn (litellm import, token counting, completion, code run) touches nothing off loopback."""
    # "llama-3" in the name makes litellm reach for a Hugging Face tokenizer unless it is kept offline
    server = FakeOllama(OllamaModel("llama-3-tiny", context_length=4096))
    server.queue("Let me compute.\n```python\nprint(6 * 7)\n```\n", "The answer is 42.")
    try:
        result, connections = run_cli(
            tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{server.port}"},
            "--plain", "-m", "ollama/llama-3-tiny", "-y", stdin="what is 6*7?\n",
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "No API key" not in result.stderr
    assert "42\n" in result.stdout and "The answer is 42." in result.stdout
    chats = server.chat_requests()
    assert len(chats) == 2, server.paths()
    assert chats[0]["model"] == "llama-3-tiny:latest" or chats[0]["model"] == "llama-3-tiny"
    assert chats[0]["options"]["num_ctx"] == 4096  # the window from /api/show, sent so Ollama uses the same one
    assert chats[0]["options"]["num_predict"] == int(4096 * 0.2)
    assert server.paths()[:2] == ["/api/tags", "/api/show"]  # checked on OLLAMA_HOST before the first turn
    blocked = [c for c in connections if c["blocked"]]
    assert blocked == [], f"network use off loopback: {blocked}"
    assert not any(c["port"] == 11434 for c in connections), "something reached for the default Ollama port"
    assert any(c["port"] == server.port for c in connections)


def test_missing_model_in_a_pipe_says_what_to_run(tmp_path):
    server = FakeOllama(OllamaModel("qwen2.5:0.5b"))
    try:
        result, _ = run_cli(tmp_path, {"OLLAMA_HOST": f"http://127.0.0.1:{server.port}"},
                            "--plain", "--model", "ollama/llama3.1", stdin="hello\n")
    finally:
        server.close()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"oi-tui: llama3.1 is not on the Ollama server at 127.0.0.1:{server.port}. Download it with "
        "`ollama pull llama3.1`, or run oi-tui in a terminal to be offered the download."
    )
    assert "Traceback" not in result.stderr and server.chat_requests() == []


def test_ollama_not_running_says_how_to_start_it(tmp_path):
    port = free_port()
    result, _ = run_cli(tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{port}"}, "--plain", "-m", "ollama/llama3.1",
                        stdin="hello\n")
    assert result.returncode == 1
    assert f"Ollama at 127.0.0.1:{port}: nothing answers." in result.stderr and "ollama serve" in result.stderr
    assert "Traceback" not in result.stderr


def _interpreter(model: str, api_base: str | None = None) -> OpenInterpreter:
    interpreter = OpenInterpreter()
    interpreter.llm.model = model
    interpreter.llm.api_base = api_base
    return interpreter


def test_download_offered_at_a_terminal_with_a_progress_line():
    server = FakeOllama()
    server.pull_plan = PullPlan(layers=(300_000_000, 1_000), steps=20, step_delay=0.03)
    interpreter = _interpreter("ollama/phi3", server.url)
    stderr = io.StringIO()
    try:
        status = prepare_local_model(interpreter, stdin=io.StringIO("y\n"), stderr=stderr, interactive=True)
    finally:
        server.close()
        interpreter.terminate()
    assert status is None, stderr.getvalue()
    lines = stderr.getvalue().splitlines()
    assert lines[0].startswith(f"phi3 is not on the Ollama server at 127.0.0.1:{server.port}. Download it now? [y/N] ")
    progress = [line for line in lines if " MB of 300.0 MB · " in line]
    assert len(progress) >= 5 and progress[-1].startswith("Downloading phi3: ")
    assert any("MB/s" in line for line in progress)
    assert "phi3:latest" in server.models
    llm = interpreter.llm
    assert (llm.api_base, llm.supports_functions) == (server.url, False)
    assert (llm.context_window, llm.max_tokens) == (16384, 3276)


def test_download_declined_or_failing_stops_with_a_reason():
    server = FakeOllama()
    interpreter = _interpreter("ollama_chat/phi3", server.url)
    try:
        declined = io.StringIO()
        assert prepare_local_model(interpreter, stdin=io.StringIO("n\n"), stderr=declined, interactive=True) == 1
        assert "phi3 was not downloaded: run `ollama pull phi3`" in declined.getvalue()
        server.pull_plan = PullPlan(error="max retries exceeded: connection reset")
        failed = io.StringIO()
        assert prepare_local_model(interpreter, stdin=io.StringIO("yes\n"), stderr=failed, interactive=True) == 1
        assert failed.getvalue().splitlines()[-1] == (
            f"oi-tui: Ollama at 127.0.0.1:{server.port} could not download phi3: max retries exceeded: connection reset."
        )
    finally:
        server.close()
        interpreter.terminate()


def test_settings_given_by_the_user_are_kept():
    server = FakeOllama(OllamaModel("llama3.2:1b", context_length=None))
    interpreter = _interpreter("ollama/llama3.2:1b", server.url + "/v1")
    interpreter.llm.max_tokens = 500
    try:
        assert prepare_local_model(interpreter, stdin=io.StringIO(""), stderr=io.StringIO(), interactive=False) is None
    finally:
        server.close()
        interpreter.terminate()
    llm = interpreter.llm
    assert llm.api_base == server.url + "/v1"  # given: kept (completions go to its root, see request_params)
    assert (llm.context_window, llm.max_tokens) == (DEFAULT_CONTEXT_WINDOW, 500)


def test_shipped_profiles_keep_the_text_mode_templates():
    from oi_core.local_profile import TEXT_MODE_TEMPLATES
    from oi_core.profiles import load_profile

    for name in ("local", "ollama"):
        settings = load_profile(name).settings
        assert {key: settings[key] for key in TEXT_MODE_TEMPLATES} == TEXT_MODE_TEMPLATES, name
        assert settings["offline"] is True
    ollama = load_profile("ollama").settings
    assert ollama["llm.model"].startswith("ollama_chat/")
    # left to the server: the host (OLLAMA_HOST), the window and tool support are resolved at start
    assert not {"llm.api_base", "llm.context_window", "llm.max_tokens", "llm.supports_functions"} & set(ollama)


def test_shipped_ollama_profile_resolves_on_ollama_host(tmp_path):
    server = FakeOllama(OllamaModel("llama3.1", context_length=8192, capabilities=("completion", "tools")))
    server.queue("Hello from the profile.")
    try:
        result, connections = run_cli(tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{server.port}"},
                                      "--plain", "-p", "ollama", stdin="hi\n")
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "Hello from the profile." in result.stdout
    [chat] = server.chat_requests()
    assert chat["model"] == "llama3.1" and chat["options"]["num_ctx"] == 8192
    assert chat.get("tools"), "the server says the model takes tools, so tool mode is used"
    assert [c for c in connections if c["blocked"]] == []


def test_local_flag_opens_the_picker_keeping_explicit_flags():
    """`oi-tui --local --max_tokens 1000 --context_window 3000` (documented): the picker opens in the TUI, the two
    flags win over what it resolves, and --api_base is probed as one more server; without a picker (--plain)
    the documented local mode applies."""
    from functools import partial

    from oi_tui import cli

    assert hasattr(cli, "_local_start"), "apply /work/team/board/local-models-integration.patch"
    args = cli.build_parser().parse_args(["--local", "--max_tokens", "1000", "--context_window", "3000",
                                          "--api_base", "http://127.0.0.1:5555/v1"])
    interpreter, _ = cli.make_interpreter(args)
    try:
        start = cli._local_start(args, interpreter)
        assert isinstance(start, partial) and start.func.__name__ == "open_local_models"
        assert start.keywords == {"extra_urls": ["http://127.0.0.1:5555/v1"],
                                  "keep": {"llm.context_window": 3000, "llm.max_tokens": 1000}}
        # until a model is picked (or if the picker is cancelled) the documented local mode is in force
        assert (interpreter.llm.api_base, interpreter.offline, interpreter.llm.max_tokens) == (
            "http://127.0.0.1:5555/v1", True, 1000)
        ollama = cli.build_parser().parse_args(["--model", "ollama/llama3.1"])
        assert cli._local_start(ollama, cli.make_interpreter(ollama)[0]).__name__ == "check_local_model"
        hosted = cli.build_parser().parse_args(["--model", "gpt-4o"])
        assert cli._local_start(hosted, cli.make_interpreter(hosted)[0]) is None
    finally:
        interpreter.terminate()
