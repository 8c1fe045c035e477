"""Scripted local model servers on loopback, speaking the real APIs: Ollama's and an LM Studio-style OpenAI one.

`FakeOllama` answers `/api/tags`, `/api/show`, `/api/pull` (streamed JSON lines with `total`/`completed`, or
an error) and `/api/chat` (streamed JSON lines); `FakeLMStudio` answers `/v1/models`, LM Studio's
`/api/v0/models/{id}` and `/v1/chat/completions` (server-sent events). Both record every request. Ports are
chosen by the OS unless a test asks for a real default port (then a busy port fails loudly).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class OllamaModel:
    name: str
    size: int = 1_321_098_329
    family: str = "llama"
    parameter_size: str = "1.2B"
    quantization: str = "Q8_0"
    context_length: int | None = 131072
    capabilities: tuple[str, ...] = ("completion",)
    parameters: str = "stop \"<|eot_id|>\""


@dataclass
class PullPlan:
    """How the next /api/pull goes: layer sizes, steps per layer, a delay per step, or an error."""

    layers: tuple[int, ...] = (40_000_000, 8_000)
    steps: int = 8
    step_delay: float = 0.02
    error: str | None = None  # an {"error": ...} line after the first layer's first step
    http_status: int = 200  # a non-200 answer with {"error": error}


@dataclass
class _Record:
    method: str
    path: str
    body: Any
    port: int


def _bind(handler: type[BaseHTTPRequestHandler], port: int, what: str) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise RuntimeError(
            f"{what} needs 127.0.0.1:{port} (its real default port) but it is busy ({exc.strerror}); "
            "stop whatever listens there and run the test again."
        ) from exc
    server.daemon_threads = True
    return server


class _Base:
    """Shared plumbing: a threaded HTTP server, a request log, JSON helpers."""

    label = "server"

    def __init__(self, port: int = 0) -> None:
        self.requests: list[_Record] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw or b"{}")
                except ValueError:
                    return raw.decode("utf-8", "replace")

            def do_GET(self) -> None:
                owner._record("GET", self.path, None)
                owner.handle_get(self)

            def do_POST(self) -> None:
                body = self._body()
                owner._record("POST", self.path, body)
                owner.handle_post(self, body)

        self._httpd = _bind(Handler, port, self.label)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.label, daemon=True)
        self._thread.start()

    def _record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append(_Record(method, path, body, self.port))

    def paths(self) -> list[str]:
        with self._lock:
            return [record.path for record in self.requests]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "_Base":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def send_json(handler: BaseHTTPRequestHandler, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def start_stream(handler: BaseHTTPRequestHandler, content_type: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

    def handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        self.send_json(handler, {"error": "not found"}, 404)

    def handle_post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        self.send_json(handler, {"error": "not found"}, 404)


class FakeOllama(_Base):
    """An Ollama server: model list, model details, pulls with progress, streamed chat."""

    label = "scripted Ollama"

    def __init__(self, *models: OllamaModel | str, port: int = 0) -> None:
        self.models: dict[str, OllamaModel] = {}
        for model in models:
            self.add(model)
        self.pull_plan = PullPlan()
        self.replies: deque[str] = deque()
        self.default_reply = "OK."
        self.pull_disconnected = threading.Event()
        self.pull_started = threading.Event()
        super().__init__(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, model: OllamaModel | str) -> None:
        model = OllamaModel(model) if isinstance(model, str) else model
        name = model.name if ":" in model.name else f"{model.name}:latest"
        self.models[name] = OllamaModel(**{**model.__dict__, "name": name})

    def queue(self, *texts: str) -> None:
        self.replies.extend(texts)

    def chat_requests(self) -> list[Any]:
        return [r.body for r in self.requests if r.path == "/api/chat"]

    # ------------------------------------------------------------ GET

    def handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/api/tags":
            self.send_json(handler, {"models": [
                {
                    "name": m.name, "model": m.name, "modified_at": "2025-01-01T00:00:00Z", "size": m.size,
                    "digest": f"{abs(hash(m.name)):064x}"[:64],
                    "details": {"format": "gguf", "family": m.family, "families": [m.family],
                                "parameter_size": m.parameter_size, "quantization_level": m.quantization},
                } for m in self.models.values()
            ]})
        elif handler.path == "/api/version":
            self.send_json(handler, {"version": "0.9.0"})
        else:
            self.send_json(handler, {"error": "404 page not found"}, 404)

    # ------------------------------------------------------------ POST

    def handle_post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if handler.path == "/api/show":
            self._show(handler, body)
        elif handler.path == "/api/pull":
            self._pull(handler, body)
        elif handler.path == "/api/chat":
            self._chat(handler, body)
        else:
            self.send_json(handler, {"error": "404 page not found"}, 404)

    def _lookup(self, name: str) -> OllamaModel | None:
        return self.models.get(name) or self.models.get(f"{name}:latest")

    def _show(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        name = (body or {}).get("model") or (body or {}).get("name") or ""
        model = self._lookup(name)
        if model is None:
            self.send_json(handler, {"error": f"model '{name}' not found"}, 404)
            return
        info: dict[str, Any] = {"general.architecture": model.family, "general.parameter_count": 1_235_814_432}
        if model.context_length:
            info[f"{model.family}.context_length"] = model.context_length
        self.send_json(handler, {
            "modelfile": f"FROM {model.name}", "parameters": model.parameters, "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": model.family, "parameter_size": model.parameter_size,
                        "quantization_level": model.quantization},
            "model_info": info, "capabilities": list(model.capabilities),
        })

    def _pull(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        name = (body or {}).get("model") or (body or {}).get("name") or ""
        plan = self.pull_plan
        self.pull_started.set()
        if plan.http_status != 200:
            self.send_json(handler, {"error": plan.error or "pull failed"}, plan.http_status)
            return
        self.start_stream(handler, "application/x-ndjson")

        def line(data: dict[str, Any]) -> None:
            handler.wfile.write((json.dumps(data) + "\n").encode())
            handler.wfile.flush()

        try:
            line({"status": "pulling manifest"})
            for number, total in enumerate(plan.layers):
                digest = f"sha256:{number:02d}" + "ab" * 31
                for step in range(plan.steps + 1):
                    line({"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total * step // plan.steps})
                    if plan.error and number == 0 and step == 1:
                        line({"error": plan.error})
                        return
                    time.sleep(plan.step_delay)
            for status in ("verifying sha256 digest", "writing manifest", "success"):
                line({"status": status})
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.pull_disconnected.set()
            return
        self.add(OllamaModel(name))

    def _chat(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        name = (body or {}).get("model") or ""
        if self._lookup(name) is None:
            self.send_json(handler, {"error": f"model '{name}' not found"}, 404)
            return
        text = self.replies.popleft() if self.replies else self.default_reply
        if not (body or {}).get("stream", True):
            self.send_json(handler, {"model": name, "message": {"role": "assistant", "content": text}, "done": True,
                                     "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5})
            return
        self.start_stream(handler, "application/x-ndjson")
        try:
            for start in range(0, len(text), 4):
                handler.wfile.write((json.dumps({
                    "model": name, "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": text[start:start + 4]}, "done": False,
                }) + "\n").encode())
                handler.wfile.flush()
            handler.wfile.write((json.dumps({
                "model": name, "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""},
                "done": True, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5,
            }) + "\n").encode())
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


@dataclass
class StudioModel:
    id: str
    max_context_length: int | None = 32768
    tool_use: bool = False


class FakeLMStudio(_Base):
    """An LM Studio-style server: OpenAI `/v1/models` and `/v1/chat/completions`, plus `/api/v0/models/{id}`."""

    label = "scripted LM Studio"

    def __init__(self, *models: StudioModel | str, port: int = 0, api_key: str | None = None) -> None:
        self.models = [StudioModel(m) if isinstance(m, str) else m for m in models]
        self.api_key = api_key  # when set, requests without "Authorization: Bearer <key>" get 401 (as Jan can)
        self.replies: deque[str] = deque()
        self.default_reply = "OK."
        super().__init__(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *texts: str) -> None:
        self.replies.extend(texts)

    def chat_requests(self) -> list[Any]:
        return [r.body for r in self.requests if r.path == "/v1/chat/completions"]

    def _refused(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.send_json(handler, {"error": {"message": "Invalid or missing API key", "type": "invalid_request_error"}},
                           401)
            return True
        return False

    def handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        if self._refused(handler):
            return
        if handler.path == "/v1/models":
            self.send_json(handler, {"object": "list", "data": [
                {"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in self.models]})
            return
        for model in self.models:
            if handler.path == f"/api/v0/models/{model.id}":
                entry: dict[str, Any] = {"id": model.id, "object": "model", "type": "llm", "state": "loaded"}
                if model.max_context_length:
                    entry["max_context_length"] = model.max_context_length
                if model.tool_use:
                    entry["capabilities"] = ["tool_use"]
                self.send_json(handler, entry)
                return
        self.send_json(handler, {"error": "Unexpected endpoint or method."}, 404)

    def handle_post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if self._refused(handler):
            return
        if handler.path != "/v1/chat/completions":
            self.send_json(handler, {"error": "Unexpected endpoint or method."}, 404)
            return
        text = self.replies.popleft() if self.replies else self.default_reply
        model = (body or {}).get("model", "")
        self.start_stream(handler, "text/event-stream")

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(chunk)}\n\n".encode()

        try:
            handler.wfile.write(event({"role": "assistant", "content": ""}))
            for start in range(0, len(text), 4):
                handler.wfile.write(event({"content": text[start:start + 4]}))
            handler.wfile.write(event({}, "stop"))
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


__all__ = ["FakeLMStudio", "FakeOllama", "OllamaModel", "PullPlan", "StudioModel"]
