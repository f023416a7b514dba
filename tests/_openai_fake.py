"""A fake OpenAI-compatible server on 127.0.0.1 (``http.server`` in a thread), for served-model tests.

It records every request (path, headers, JSON body, client port) and answers through a per-test
``behave`` function, so request shapes, retries, timeouts, fallbacks and the concurrency bound are checked
without a model.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the fake server answers: a status, a JSON body (or raw bytes), headers, a delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


def default_reply(path: str, body: dict[str, Any]) -> Reply:
    """A well-formed completion whose text and usage are derived from the request."""
    if path.endswith("/chat/completions"):
        prompt_text = " ".join(m["content"] for m in body["messages"])
        text = json.dumps({"echo": body["messages"][-1]["content"]})
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
    else:
        prompt_text = body["prompt"]
        text = json.dumps({"echo": prompt_text})
        choice = {"index": 0, "text": text}
    choice["finish_reason"] = "length" if body["max_tokens"] < 8 else "stop"
    usage = {"prompt_tokens": len(prompt_text.split()), "completion_tokens": len(text)}
    return Reply(body={"id": "x", "object": "completion", "choices": [choice], "usage": usage})


class QuietServer(ThreadingHTTPServer):
    """Does not print a traceback when a client hung up first (the timeout tests do that on purpose)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeServer:
    """Records requests (path, headers, JSON body) and tracks how many were in flight at once."""

    def __init__(self, owned_by: str = "vllm", models: tuple[str, ...] = ("served-model",)) -> None:
        self.owned_by = owned_by
        self.models = models
        self.behave: Callable[[str, dict[str, Any], int], Reply] = lambda p, b, n: default_reply(p, b)
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.gets: list[str] = []
        self.ports: list[int] = []  # the client port of each POST: one port = one reused connection
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                return

            def _send(self, reply: Reply) -> None:
                if reply.drop:
                    self.close_connection = True
                    return
                raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                fake.gets.append(self.path)
                if self.path != "/v1/models":
                    self._send(Reply(404, {"error": {"message": "not found"}}))
                    return
                data = [{"id": m, "object": "model", "owned_by": fake.owned_by} for m in fake.models]
                self._send(Reply(body={"object": "list", "data": data}))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append((self.path, dict(self.headers), body))
                    fake.ports.append(self.client_address[1])
                    n = len(fake.requests)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake.behave(self.path, body, n)
                    time.sleep(reply.delay)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                self._send(reply)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [b for _, _, b in self.requests]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
