"""A local HTTP server that speaks the Messages API, for the real anthropic SDK.

Tests point the SDK's ``base_url`` at it. A ``responder`` decides each answer
from the request body: it returns a tool input (dict) to answer with a forced
tool call, a full message dict, or a ``Failure`` to answer with an HTTP error
the way the API does. Every request body is kept for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graph_model.settings import Settings


@dataclass(frozen=True)
class Failure:
    status: int
    error_type: str = "api_error"
    message: str = "failure injected by the test"


Answer = dict[str, Any] | Failure
Responder = Callable[[dict[str, Any]], Answer]


@dataclass
class MessagesServer:
    responder: Responder
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def tool_message(request: dict[str, Any], tool_input: dict[str, Any]) -> dict[str, Any]:
    """A Messages API response that calls the request's forced tool with ``tool_input``."""
    choice = request.get("tool_choice") or {}
    name = choice.get("name") or request["tools"][0]["name"]
    return {
        "id": f"msg_test_{id(tool_input)}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", "test-model"),
        "content": [{"type": "tool_use", "id": "toolu_test", "name": name, "input": tool_input}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def claude_settings(url: str, model: str) -> Settings:
    """Settings that send Claude requests to a local server, with no retries."""
    return Settings(
        anthropic_api_key="test-key",
        anthropic_base_url=url,
        claude_draft_model=model,
        claude_max_retries=0,
    )


@contextmanager
def messages_server(responder: Responder) -> Iterator[MessagesServer]:
    state = MessagesServer(responder=responder)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(body)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.path.rstrip("/") != "/v1/messages":
                self._send(404, {"type": "error", "error": {"type": "not_found_error"}})
                return
            answer = state.responder(body)
            if isinstance(answer, Failure):
                error = {"type": answer.error_type, "message": answer.message}
                self._send(answer.status, {"type": "error", "error": error})
                return
            message = answer if answer.get("type") == "message" else tool_message(body, answer)
            self._send(200, message)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_test")
            self.end_headers()
            self.wfile.write(data)

    with serve_http(Handler) as base:
        state.url = base
        yield state


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
