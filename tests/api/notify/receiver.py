"""A local HTTP receiver the notify tests run: it records every request, and can be told to fail
the first N (HTTP 500, no answer in time, or a robot's errcode), or to check DingTalk's signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict[str, str]
    body: dict


@dataclass
class Receiver:
    """Answers 200 ``{"errcode": 0, "errmsg": "ok"}``, unless told otherwise."""

    fail_first: int = 0
    failure: str = "500"  # 500, timeout, errcode
    hang_s: float = 2.0  # how long a "timeout" failure keeps the client waiting
    dingtalk_secret: str | None = None  # if set: refuse (errcode 310000) a request not signed with it
    requests: list[Request] = field(default_factory=list)
    refused: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def to(self, path: str) -> list[Request]:
        """The requests that reached ``path`` and were accepted."""
        return [r for r in self.requests if r.path == path]

    def _answer(self, request: Request) -> tuple[int, dict]:
        with self.lock:
            if self.dingtalk_secret is not None and not self._signed(request):
                self.refused.append(request)
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            if self.fail_first > 0:
                self.fail_first -= 1
                self.refused.append(request)
                if self.failure == "timeout":
                    return -1, {}
                if self.failure == "errcode":
                    return 200, {"errcode": 310000, "errmsg": "keywords not in content"}
                return 500, {"error": "try later"}
            self.requests.append(request)
            return 200, {"errcode": 0, "errmsg": "ok"}

    def _signed(self, request: Request) -> bool:
        timestamp, sign = request.query.get("timestamp"), request.query.get("sign")
        if not timestamp or not sign:
            return False
        digest = hmac.new(self.dingtalk_secret.encode(), f"{timestamp}\n{self.dingtalk_secret}".encode(),
                          hashlib.sha256).digest()
        # parse_qs has already URL-decoded the sign.
        return hmac.compare_digest(base64.b64encode(digest).decode(), sign)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, answer = receiver._answer(Request(parts.path, query, body))
                if status == -1:
                    time.sleep(receiver.hang_s)
                    status = 200
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
