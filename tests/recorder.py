"""A stand-in bot or integration server: records every call Parley makes to it and answers as told."""

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness import free_port

JSON = "application/json"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# (status, body) with a body sent as JSON, or (status, body, headers) with a body of bytes sent as
# it is, with just those headers.
Answer = Callable[[Received], tuple[int, Any] | tuple[int, bytes, dict[str, str]]]


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
                if len(raw) < length:
                    # The caller went away in the middle of its request (a worker killed by a
                    # test): a real server would never see the call.
                    return
                received = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                answer = recorder.answer(received)
                recorder.calls.append(received)
                if len(answer) == 3:
                    status, data, headers = answer
                else:
                    status, data, headers = answer[0], json.dumps(answer[1]).encode(), {"content-type": JSON}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                # A caller that gave up waiting (a timeout test) has closed the connection.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
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
