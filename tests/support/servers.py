"""Real local servers for the channel tests: an SMTP server (aiosmtpd), an HTTP
server that records webhook POSTs, and an IMAP server (pymap) for the mailbox."""

from __future__ import annotations

import imaplib
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.messages_api import serve_http


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class _Collect:
    def __init__(self, state: SmtpServer) -> None:
        self.state = state

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode()
        with self.state.lock:
            self.state.messages.append(message_from_bytes(data))
            self.state.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_server(
    *,
    user: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback; with ``user`` it requires AUTH (over plain
    text, which aiosmtpd allows only when told to)."""
    state = SmtpServer("127.0.0.1", free_port())

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (user, password)
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {}
    if user is not None:
        options = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    if tls is not None:
        # STARTTLS offered and required; AUTH only after it.
        options.update(tls_context=tls, require_starttls=True, auth_require_tls=True)
    controller = Controller(_Collect(state), hostname=state.host, port=state.port, **options)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


@dataclass
class HookServer:
    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200


@contextmanager
def webhook_server() -> Iterator[HookServer]:
    state = HookServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            state.posts.append(json.loads(self.rfile.read(length) or b"{}"))
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(state.status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with serve_http(Handler) as base:
        state.url = f"{base}/hooks/alerts"
        yield state


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1 (openssl): the server's context and a client
    context that trusts it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


@dataclass
class ImapServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, mailbox: str = "INBOX", *, scheme: str = "imap") -> str:
        """The mailbox as TWOLOOP_IMAP_URL names it (the password left out)."""
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{mailbox}"

    def append(self, raw: bytes, mailbox: str = "INBOX") -> int:
        """Put ``raw`` in the mailbox by a real IMAP APPEND; its UID back."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            status, data = client.append(mailbox, None, None, raw)
            assert status == "OK", data
            # [APPENDUID <validity> <uid>] (UIDPLUS)
            code = (data[0] or b"").decode()
            return int(code.split("APPENDUID", 1)[1].split("]")[0].split()[1])
        finally:
            client.logout()


@contextmanager
def imap_server(
    *, user: str = "replies", password: str = "s3cret", tls: tuple[Path, Path] | None = None
) -> Iterator[ImapServer]:
    """A real IMAP server on loopback (pymap, its in-memory backend, one user), in its
    own process; with ``tls`` (cert, key) it offers STARTTLS."""
    state = ImapServer("127.0.0.1", free_port(), user, password)
    command = [
        sys.executable,
        "-c",
        "from pymap.main import main; main()",
        "--host",
        state.host,
        "--port",
        str(state.port),
    ]
    if tls is not None:
        command += ["--cert", str(tls[0]), "--key", str(tls[1])]
    else:
        command += ["--no-tls"]
    command += ["dict", "--demo-user", user, "--demo-password", password]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((state.host, state.port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise RuntimeError(f"pymap did not start: {out[-2000:]}") from None
                time.sleep(0.1)
        yield state
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
