"""Auth's mail plumbing: SMTP URL forms, the .eml directory, templates per locale, retry backoff."""

from __future__ import annotations

import email
import email.policy

import pytest

from services.auth.config import AuthSettings
from services.auth.mail.delivery import MAX_BACKOFF_SECONDS, backoff
from services.auth.mail.mailer import DirectoryMailer, SmtpMailer, mailer_for
from services.auth.mail.outbox import compose
from services.auth.mail.templates import render
from tests.support.smtp import token_of


def test_smtp_url_forms():
    plain = SmtpMailer("smtp://mail.internal")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls, plain.username) == (
        "mail.internal",
        25,
        False,
        False,
        None,
    )
    tls = SmtpMailer("smtps://bot%40corp.com:p%3Ass@smtp.corp.com")
    assert (tls.port, tls.use_tls, tls.username, tls.password) == (465, True, "bot@corp.com", "p:ss")
    starttls = SmtpMailer("smtp+starttls://u:p@smtp.corp.com:2525")
    assert (starttls.port, starttls.start_tls, starttls.use_tls) == (2525, True, False)
    with pytest.raises(ValueError):
        SmtpMailer("http://smtp.corp.com")


def test_settings_pick_the_mailer(stack, tmp_path):
    assert isinstance(mailer_for(stack.settings(AuthSettings, smtp_url="smtp://127.0.0.1:2525")), SmtpMailer)
    assert isinstance(
        mailer_for(stack.settings(AuthSettings, smtp_url="", mail_outbox_dir=str(tmp_path))), DirectoryMailer
    )


async def test_directory_mailer_writes_one_eml_per_mail(stack, tmp_path):
    settings = stack.settings(AuthSettings, public_base_url="https://atende.example.com")
    text = render("verify", None, token="tok-123", link_base=settings.public_base_url, hours="72")
    await DirectoryMailer(str(tmp_path / "out")).send(compose(settings, "a@example.com", text.subject, text.text))
    (eml,) = (tmp_path / "out").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "a@example.com" and msg["From"] == settings.mail_from and msg["Message-ID"]
    assert token_of(msg) == "tok-123"
    assert "https://atende.example.com/admin/verify-email?token=tok-123" in msg.get_body().get_content()
    assert oct(eml.stat().st_mode & 0o777) == "0o600"


def test_templates_follow_the_locale():
    pt = render("invite", "pt-BR", token="t", hours="72", email="a@b.c", tenant="Loja", role="agent")
    en = render("invite", "xx", token="t", hours="72", email="a@b.c", tenant="Loja", role="agent")
    assert pt.subject == "Convite para Loja" and en.subject == "Invitation to Loja"
    assert "Token: t" in pt.text and "Token: t" in en.text


def test_backoff_grows_and_is_capped():
    assert backoff(1).total_seconds() == 2 and backoff(3).total_seconds() == 8
    assert backoff(40).total_seconds() == MAX_BACKOFF_SECONDS
