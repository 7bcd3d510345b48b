"""A real SMTP server (aiosmtpd) on a free port, with GLOMCHECK_SMTP_HOST/PORT pointing at it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    from app.config import get_settings

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    os.environ["GLOMCHECK_SMTP_HOST"] = "127.0.0.1"
    os.environ["GLOMCHECK_SMTP_PORT"] = str(port)
    get_settings.cache_clear()
    try:
        yield inbox
    finally:
        controller.stop()
        os.environ.pop("GLOMCHECK_SMTP_HOST", None)
        os.environ.pop("GLOMCHECK_SMTP_PORT", None)
        get_settings.cache_clear()


@contextmanager
def smtp_unreachable() -> Iterator[None]:
    """SMTP settings pointing at a port nobody listens on."""
    from app.config import get_settings

    os.environ["GLOMCHECK_SMTP_HOST"] = "127.0.0.1"
    os.environ["GLOMCHECK_SMTP_PORT"] = str(free_port())
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.pop("GLOMCHECK_SMTP_HOST", None)
        os.environ.pop("GLOMCHECK_SMTP_PORT", None)
        get_settings.cache_clear()
