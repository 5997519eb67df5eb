"""A connection to the mail server: plain, STARTTLS (587) or implicit TLS (465).

Both TLS ways verify the server's certificate against the system's CAs, or `cafile` when a
company runs its mail server on a certificate of its own CA (`FLOWDECK_SMTP_CAFILE`):
smtplib's own default context would accept any certificate.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowdeck.engine.notifications import SmtpSettings


def open_smtp(settings: SmtpSettings) -> smtplib.SMTP:
    """A connected client, TLS set up as configured; use it as a context manager."""
    context = ssl.create_default_context(cafile=settings.cafile) if settings.ssl or settings.starttls else None
    if settings.ssl:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    if settings.starttls:
        try:
            client.starttls(context=context)
        except BaseException:
            client.close()
            raise
    return client


def send_mail(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    """One plain-text mail now (a password link); notifications go through the queue instead."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with open_smtp(settings) as client:
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(message)
