"""Slack-compatible webhook alerts to people (escalations, voice-note requests).

POSTs ``{"text": ..., "blocks": [...]}`` as JSON (what Slack's incoming webhooks
and most chat tools accept) with an ``Idempotency-Key`` header, so a receiver
can drop a repeat.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from routing.channels import Outgoing
from routing.channels.smtp import ChannelRejected, ChannelUnavailable


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url, self.timeout = url, timeout

    def send(self, message: Outgoing) -> str:
        payload = {
            "text": f"*{message.subject}*\n{message.body}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message.body[:2900]}},
            ],
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload).encode(),
            headers={"content-type": "application/json", "idempotency-key": message.message_id},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise ChannelUnavailable(f"webhook answered HTTP {exc.code}") from None
            raise ChannelRejected(f"webhook refused the alert: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelUnavailable(f"webhook {self.url} is unreachable: {exc}") from None
        return f"webhook:{message.message_id}"
