"""The channels against real local servers: SMTP (aiosmtpd, with and without
AUTH), a Slack-compatible webhook (a local HTTP server), and the task channel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from graph_model.store import GraphStore
from routing.channels import Outgoing
from routing.channels.smtp import ChannelRejected, ChannelUnavailable, SmtpChannel
from routing.channels.task import add_task
from routing.channels.webhook import WebhookChannel
from tests.support.hand_graph import AS_OF, build
from tests.support.servers import free_port, self_signed, smtp_server, webhook_server

MESSAGE = Outgoing(
    message_id="msg-0123",
    to_address="cat@acme.example",
    from_address="ada@vendor.example",
    subject="Privacy at Acme",
    body="Hi Cat,\n\nZoë says hello.\n",
    headers={
        "List-Unsubscribe": "<mailto:u@vendor.example>, <https://vendor.example/u?m=msg-0123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
)


def test_smtp_delivers_with_headers_and_a_stable_message_id() -> None:
    with smtp_server() as server, SmtpChannel(server.host, server.port, starttls=False) as channel:
        provider_id = channel.send(MESSAGE)
        channel.send(MESSAGE)  # one connection, reused
    assert provider_id == "<msg-0123@vendor.example>"
    assert server.message_ids() == [provider_id, provider_id]
    mail = server.messages[0]
    assert mail["To"] == "cat@acme.example" and mail["From"] == "ada@vendor.example"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://vendor.example/u?m=msg-0123" in mail["List-Unsubscribe"]
    assert server.envelopes[0] == ("ada@vendor.example", ["cat@acme.example"])


def test_smtp_auth_is_used_and_a_wrong_password_is_terminal() -> None:
    with smtp_server(user="relay", password="s3cret") as server:
        with SmtpChannel(
            server.host, server.port, starttls=False, username="relay", password="s3cret"
        ) as ok:
            ok.send(MESSAGE)
        assert len(server.messages) == 1
        with (
            SmtpChannel(
                server.host, server.port, starttls=False, username="relay", password="nope"
            ) as bad,
            pytest.raises(ChannelRejected, match="refused the login"),
        ):
            bad.send(MESSAGE)
        # Without AUTH the server refuses the mail (530): terminal, not retried.
        with (
            SmtpChannel(server.host, server.port, starttls=False) as anonymous,
            pytest.raises(ChannelRejected),
        ):
            anonymous.send(MESSAGE)
    assert len(server.messages) == 1


def test_an_unreachable_smtp_server_is_transient() -> None:
    channel = SmtpChannel("127.0.0.1", free_port(), starttls=False, timeout=2)
    with pytest.raises(ChannelUnavailable) as caught:
        channel.send(MESSAGE)
    assert caught.value.transient


def test_the_webhook_posts_slack_blocks_with_an_idempotency_key() -> None:
    with webhook_server() as hook:
        WebhookChannel(hook.url).send(MESSAGE)
        assert hook.posts[0]["text"].startswith("*Privacy at Acme*")
        assert hook.posts[0]["blocks"][0]["type"] == "header"
        assert hook.headers[0]["idempotency-key"] == "msg-0123"
        hook.status = 500
        with pytest.raises(ChannelUnavailable):
            WebhookChannel(hook.url).send(MESSAGE)
        hook.status = 404
        with pytest.raises(ChannelRejected):
            WebhookChannel(hook.url).send(MESSAGE)
    with pytest.raises(ChannelUnavailable):
        WebhookChannel(f"http://127.0.0.1:{free_port()}/x", timeout=2).send(MESSAGE)


def test_the_task_channel_queues_a_task_once(store: GraphStore) -> None:
    build(store)
    for _ in range(2):
        with store.batch() as write:
            add_task(
                write,
                kind="voice_note",
                am_id="am-1",
                account_id="acme",
                title="Voice note to Ann",
                body="packet",
                now=AS_OF,
                match_id="m-1",
            )
    tasks = store.nodes("Task")
    assert tasks.height == 1 and tasks["status"].to_list() == ["open"]
    queued = store.edges("ASSIGNED_TO", touching=["am-1"], side="target", label="AccountManager")
    assert tasks["task_id"][0] in queued["src"].to_list()
    with pytest.raises(ValueError, match="unknown task kind"), store.batch() as write:
        add_task(
            write,
            kind="fax",
            am_id="am-1",
            account_id="acme",
            title="x",
            body="",
            now=AS_OF + dt.timedelta(0),
        )


def test_smtp_starttls_then_auth(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    with smtp_server(user="relay", password="s3cret", tls=server_tls) as server:
        with SmtpChannel(
            server.host,
            server.port,
            starttls=True,
            username="relay",
            password="s3cret",
            tls_context=client_tls,
        ) as channel:
            channel.send(MESSAGE)
        assert len(server.messages) == 1
        # The server requires STARTTLS: without it the mail is refused.
        with (
            SmtpChannel(server.host, server.port, starttls=False) as plain,
            pytest.raises(ChannelRejected),
        ):
            plain.send(MESSAGE)
        # An untrusted certificate is not accepted.
        with (
            SmtpChannel(server.host, server.port, starttls=True, timeout=5) as untrusted,
            pytest.raises((ChannelUnavailable, ChannelRejected)),
        ):
            untrusted.send(MESSAGE)
    assert len(server.messages) == 1
