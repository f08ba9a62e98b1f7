"""The SMTP channel (the adapter module that may import smtplib).

One connection per relay pass (``with channel:``), STARTTLS and login when
configured. Each email carries a Message-ID derived from the outbox's
idempotency key, so a receiving system can recognise a duplicate, and that
Message-ID is the provider id the outbox records.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from types import TracebackType

from graph_model.errors import TwoloopError
from routing.channels import Outgoing, email_message, message_id_header

__all__ = ["ChannelRejected", "ChannelUnavailable", "SmtpChannel", "message_id_header"]


class ChannelUnavailable(TwoloopError):
    """The channel could not take the message now (connection, 4xx); try again later."""

    transient = True
    exit_code = 3


class ChannelRejected(TwoloopError):
    """The channel refused the message for good (5xx, bad address)."""

    exit_code = 1


class SmtpChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port = host, port
        # None: the system's trusted CAs (a private CA: pass a context that trusts it).
        self.tls_context = tls_context
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpChannel:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.starttls:
                    smtp.starttls(context=self.tls_context or ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                raise ChannelRejected(
                    f"SMTP {self.host}:{self.port} refused the login: {exc.smtp_code}",
                    hint="check TWOLOOP_SMTP_USER and TWOLOOP_SMTP_PASSWORD",
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise ChannelUnavailable(
                    f"SMTP {self.host}:{self.port} is unreachable: {exc}",
                    hint="check TWOLOOP_SMTP_HOST and TWOLOOP_SMTP_PORT",
                ) from None
            self._smtp = smtp
        return self._smtp

    def send(self, message: Outgoing) -> str:
        email = email_message(message)
        header = message_id_header(message.message_id, message.from_address)
        try:
            self._connection().send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelRejected(f"SMTP refused {message.to_address}: {exc.recipients}") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 400 <= exc.smtp_code < 500:
                raise ChannelUnavailable(f"SMTP deferred the message: {exc.smtp_code}") from None
            raise ChannelRejected(f"SMTP rejected the message: {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ChannelUnavailable(f"SMTP connection failed: {exc}") from None
        return header

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
