"""Emails (Protean's ``@domain.email`` / ``domain.send_email``) with the dummy provider."""

from __future__ import annotations

import pytest

from archipel import Domain
from archipel.adapters.email.dummy import DummyEmailProvider
from archipel.core.email import BaseEmail, BaseEmailProvider
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError


def test_an_email_goes_to_its_provider_with_its_recipients(make_domain):
    domain = make_domain()

    @domain.email
    class Welcome(BaseEmail):
        subject = "Welcome"
        from_email = "team@example.com"

    domain.init(traverse=False)
    email = Welcome({"text": "Hello"}, to="ada@example.com", cc=["bob@example.com"])
    assert email.to == ["ada@example.com"] and email.reply_to == "team@example.com"
    assert email.recipients == ["ada@example.com", "bob@example.com"]
    assert domain.send_email(email) is True
    provider = domain.get_email_provider("default")
    assert isinstance(provider, DummyEmailProvider)
    assert provider.sent == [email]
    assert provider.sent[0].to_dict()["text"] == "Hello"


def test_a_provider_is_chosen_per_email_and_may_be_a_dotted_class_path(make_domain):
    class Outbox(BaseEmailProvider):
        delivered: list[BaseEmail] = []

        def send_email(self, email_message: BaseEmail) -> bool:
            self.delivered.append(email_message)
            return True

    import sys
    import types

    module = types.ModuleType("email_test_providers")
    module.Outbox = Outbox  # type: ignore[attr-defined]
    sys.modules["email_test_providers"] = module
    try:
        domain = make_domain(email_providers={
            "default": {"provider": "dummy"},
            "bulk": {"provider": "email_test_providers.Outbox", "API_KEY": "x"},
        })

        @domain.email(provider="bulk")
        class Digest:
            subject = "Digest"

        domain.init(traverse=False)
        digest = Digest(to="ada@example.com")
        domain.send_email(digest)
        assert Outbox.delivered == [digest]
        assert domain.get_email_provider("default").sent == []
    finally:
        del sys.modules["email_test_providers"]


def test_mistakes_are_named(make_domain):
    domain = make_domain()

    @domain.email
    class Note(BaseEmail):
        pass

    domain.init(traverse=False)
    with pytest.raises(ValidationError, match="body"):
        Note(body="x")

    class Stray(BaseEmail):
        pass

    with pytest.raises(IncorrectUsageError, match="send_email takes an email registered"):
        domain.send_email(Stray(to="a@example.com"))
    with pytest.raises(ConfigurationError, match="no email provider named 'sms'"):
        domain.get_email_provider("sms")

    bad = Domain(name="BadMail", config={"email_providers": {"default": {"provider": "smtp"}}})
    with pytest.raises(ConfigurationError, match=r"\[email_providers\.default\] provider 'smtp'"):
        bad.init(traverse=False)
