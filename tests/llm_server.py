"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, streaming SSE like the real API.

Tests queue what the "model" says next and read back every request that reached it, so the whole
path (our code -> litellm -> HTTP -> server) is exercised exactly as with a user's own endpoint.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many clients at once (the load test): the default backlog of 5 overflows


@dataclass
class Reply:
    """One scripted answer to one request."""

    text: str = ""
    chunk_size: int = 4
    tool_language: str | None = None
    tool_code: str = ""
    status: int = 200
    error_message: str = "scripted failure"
    drop_after_chunks: int | None = None  # close the socket mid-stream after this many chunks
    malformed_after_chunks: int | None = None  # send a broken JSON line after this many chunks
    delay: float = 0.0  # seconds before the first byte
    chunk_delay: float = 0.0  # seconds between chunks
    prompt_tokens: int = 10
    completion_tokens: int = 5
    extra_chunks: list[dict[str, Any]] = field(default_factory=list)
    text_pieces: list[str] | None = None  # the reply's content deltas exactly (overrides text/chunk_size)
    tool_arguments: list[str] | None = None  # the tool call's argument deltas exactly, as a model wrote them
    tool_name: str = "execute"
    raw_body: bytes | None = None  # sent verbatim instead of a stream (a proxy's HTML page, garbage)
    content_type: str = "text/html"  # of raw_body
    finish_reason: str | None = None  # the final finish_reason instead of stop/tool_calls ("length": cut off)


class ScriptedLLM:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default = Reply(text="OK.")
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # /v1/models
                body = json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                body["_headers"] = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.requests.append(body)
                    reply = server.replies.popleft() if server.replies else server.default
                server._serve(self, body, reply)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------ scripting

    def queue(self, *replies: Reply | str) -> None:
        with self._lock:
            for reply in replies:
                self.replies.append(Reply(text=reply) if isinstance(reply, str) else reply)

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.requests.clear()
            self.default = Reply(text="OK.")

    def last_messages(self) -> list[dict[str, Any]]:
        return self.requests[-1]["messages"]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ------------------------------------------------------------ serving

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.raw_body is not None:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.raw_body)))
            handler.end_headers()
            handler.wfile.write(reply.raw_body)
            return
        if reply.status != 200:
            payload = json.dumps({"error": {"message": reply.error_message, "type": "scripted", "code": reply.status}}).encode()
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        model = body.get("model", "test-model")
        ident = f"chatcmpl-{uuid.uuid4().hex[:10]}"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}
            payload = json.dumps(
                {
                    "id": ident, "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                              "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                }
            ).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def event(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
            chunk: dict[str, Any] = {
                "id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                chunk["choices"] = []
                chunk["usage"] = usage
            return f"data: {json.dumps(chunk)}\n\n".encode()

        pieces: list[bytes] = [event({"role": "assistant", "content": ""})]
        size = max(1, reply.chunk_size)
        texts = reply.text_pieces if reply.text_pieces is not None else [
            reply.text[i : i + size] for i in range(0, len(reply.text), size)]
        for text in texts:
            pieces.append(event({"content": text}))
        if reply.tool_language is not None or reply.tool_arguments is not None:
            if reply.tool_arguments is not None:
                argument_pieces = reply.tool_arguments
            else:
                arguments = json.dumps({"language": reply.tool_language, "code": reply.tool_code})
                argument_pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)]
            call_id = f"call_{uuid.uuid4().hex[:8]}"
            pieces.append(event({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                                  "function": {"name": reply.tool_name, "arguments": ""}}]}))
            for piece in argument_pieces:
                pieces.append(event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        for extra in reply.extra_chunks:
            pieces.append(f"data: {json.dumps(extra)}\n\n".encode())
        finish = "tool_calls" if reply.tool_language is not None or reply.tool_arguments is not None else "stop"
        finish = reply.finish_reason or finish
        pieces.append(event({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            pieces.append(event({}, None, {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                                           "total_tokens": reply.prompt_tokens + reply.completion_tokens}))
        pieces.append(b"data: [DONE]\n\n")
        try:
            for index, piece in enumerate(pieces):
                if reply.drop_after_chunks is not None and index >= reply.drop_after_chunks:
                    handler.wfile.flush()
                    handler.connection.shutdown(2)
                    return
                if reply.malformed_after_chunks is not None and index == reply.malformed_after_chunks:
                    handler.wfile.write(b'data: {"id": "broken", "choices": [{"delta": {"content": "x"\n\n')
                    handler.wfile.flush()
                    return
                handler.wfile.write(piece)
                handler.wfile.flush()
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
