"""Emails (Protean's ``protean.core.email``, deprecated there since 0.18): ``BaseEmail``, ``BaseEmailProvider``.

``@domain.email`` registers a subclass of :class:`BaseEmail` (option
``provider``, default ``"default"``); ``domain.send_email(email)`` hands it to
the provider ``[email_providers.<provider>]`` names. archipel ships the
``dummy`` provider (:class:`archipel.adapters.email.dummy.DummyEmailProvider`):
it logs each email and keeps it in ``sent``; other providers implement
:class:`BaseEmailProvider` and are named by dotted path.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.options import ElementOptions
from archipel.errors import ValidationError

__all__ = ["BaseEmail", "BaseEmailProvider"]

_FIELDS = ("subject", "from_email", "to", "bcc", "cc", "reply_to", "text", "html", "data", "template")
_LISTS = ("to", "bcc", "cc")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class BaseEmail:
    """One email: ``subject``, ``from_email``, ``to``/``cc``/``bcc`` (a string or a list),
    ``reply_to`` (default: ``from_email``), ``text``, ``html``, ``data`` and ``template``.

    Subclasses set defaults as class attributes; ``Email({...}, to=...)`` merges
    template dicts and keywords (keywords win). Any other name is a
    :class:`~archipel.errors.ValidationError`.
    """

    _element_kind: ClassVar[str] = "email"
    _meta: ClassVar[ElementOptions] = ElementOptions("email", "BaseEmail")
    subject: str | None = None
    from_email: str | None = None
    to: Any = None
    bcc: Any = None
    cc: Any = None
    reply_to: Any = None
    text: str | None = None
    html: str | None = None
    data: dict[str, Any] | None = None
    template: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)

    def __init__(self, *templates: dict[str, Any], **values: Any) -> None:
        merged: dict[str, Any] = {}
        for template in templates:
            if not isinstance(template, dict):
                raise ValidationError({"_entity": [f"a template must be a dict, got {type(template).__name__}"]})
            merged.update(template)
        merged.update(values)
        unknown = sorted(set(merged) - set(_FIELDS))
        if unknown:
            raise ValidationError({name: [f"is not a field of {type(self).__name__}"] for name in unknown})
        for name in _FIELDS:
            value = merged.get(name, getattr(type(self), name))
            setattr(self, name, _as_list(value) if name in _LISTS else value)
        self.reply_to = _as_list(self.reply_to) if self.reply_to else self.from_email

    @property
    def recipients(self) -> list[str]:
        """Every address the email goes to: ``to`` + ``cc`` + ``bcc``."""
        return [address for address in (*self.to, *self.cc, *self.bcc) if address]

    def to_dict(self) -> dict[str, Any]:
        """The email's fields as a dict."""
        return {name: getattr(self, name) for name in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: to={self.to!r} subject={self.subject!r}>"


class BaseEmailProvider:
    """Base of email providers: ``send_email(email) -> bool``; built with ``(name, domain, conn_info)``."""

    def __init__(self, name: str, domain: Any, conn_info: dict[str, Any], **kwargs: Any) -> None:
        self.name = name
        self.domain = domain
        self.conn_info = conn_info

    def send_email(self, email_message: BaseEmail) -> bool:
        """Send ``email_message``; True when it was accepted."""
        raise NotImplementedError
