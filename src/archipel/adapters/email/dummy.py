"""The dummy email provider: logs each email (DEBUG) and keeps it in ``sent``; sends nothing."""

from __future__ import annotations

import logging
from typing import Any

from archipel.core.email import BaseEmail, BaseEmailProvider

__all__ = ["DummyEmailProvider"]

logger = logging.getLogger(__name__)


class DummyEmailProvider(BaseEmailProvider):
    """Simulates sending: ``sent`` lists the emails given to it, in order (for tests)."""

    def __init__(self, name: str, domain: Any, conn_info: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, domain, conn_info, **kwargs)
        self.sent: list[BaseEmail] = []

    def send_email(self, email_message: BaseEmail) -> bool:
        """Log ``email_message`` (recipients and subject only) and keep it in ``sent``."""
        logger.debug("email %s dispatched to %d recipient(s)", type(email_message).__name__,
                     len(email_message.recipients))
        self.sent.append(email_message)
        return True
