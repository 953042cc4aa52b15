"""A real HTTP receiver on 127.0.0.1 that records what pagers send and can be told to fail."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []  # (path, json body) of every request, failed ones included
        self.fail_next = 0  # answer 500 to this many requests
        self.status_ok = 202
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with receiver._lock:
                    receiver.requests.append((self.path, body))
                    fail = receiver.fail_next > 0
                    if fail:
                        receiver.fail_next -= 1
                self.send_response(500 if fail else receiver.status_ok)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"error"}' if fail else b'{"status":"success"}')

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def bodies(self, path: str) -> list[dict]:
        with self._lock:
            return [b for p, b in self.requests if p == path]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
