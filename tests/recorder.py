"""A stand-in bot or integration server: records every call Parley makes to it and answers as told."""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Answer = Callable[[Received], tuple[int, Any]]


class Recorder:
    """Answers 200 `{}` unless `answer` says otherwise; `calls` lists what arrived, in order."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.port = free_port()
        self.calls: list[Received] = []
        self.answer: Answer = answer or (lambda _: (200, {}))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                received = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                status, body = recorder.answer(received)
                recorder.calls.append(received)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def operations(self) -> list[str]:
        return [call.headers.get("x-bp-operation", "") for call in self.calls]
