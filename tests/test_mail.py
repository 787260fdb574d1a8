"""Mail rendering and queueing: every message in English, Persian and Russian, in the caller's transaction."""

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from service.extensions import db
from service.mail import SUPPORTED_LANGUAGES, negotiate_language, queue_mail
from service.mail import sender as mail_sender
from service.mail.rendering import render_mail
from service.models import MailMessage

PERSIAN = re.compile("[\u0600-\u06ff]")
CYRILLIC = re.compile("[\u0400-\u04ff]")
LINK = "https://accounts.example.com/reset?token=abc&x=1"
CONTEXTS = {
    "verify_email": {"username": "ali", "link": LINK},
    "password_reset": {"username": "ali", "link": LINK, "minutes": "30"},
    "email_change_confirm": {"username": "ali", "link": LINK, "new_email": "new@example.com"},
    "email_changed_notice": {"username": "ali", "new_email": "new@example.com"},
}


@pytest.fixture
def context(app: Flask) -> Iterator[None]:
    from conftest import empty_tables

    empty_tables(app)
    with app.app_context():
        yield


@pytest.mark.parametrize("template", sorted(CONTEXTS))
@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_message_renders_in_every_language(context, template: str, language: str) -> None:
    mail = render_mail(template, language, CONTEXTS[template])
    direction = "rtl" if language == "fa" else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in mail.html
    assert mail.subject and "\n" not in mail.subject
    assert f"<title>{mail.subject}</title>" in mail.html
    for part in (mail.subject, mail.text, mail.html):
        assert bool(PERSIAN.search(part)) == (language == "fa")
        assert bool(CYRILLIC.search(part)) == (language == "ru")
    if language != "en":  # every sentence translated: no English left but the context's values
        english = render_mail(template, "en", CONTEXTS[template])
        for line in english.text.splitlines():
            if len(line.strip()) > 2 and not any(value in line for value in CONTEXTS[template].values()):
                assert line.strip() not in mail.text
    if "link" in CONTEXTS[template]:
        assert LINK in mail.text
        assert 'href="https://accounts.example.com/reset?token=abc&amp;x=1"' in mail.html


def test_persian_message_is_right_to_left_persian(context) -> None:
    mail = render_mail("verify_email", "fa", CONTEXTS["verify_email"])
    assert 'dir="rtl"' in mail.html
    assert mail.subject == "نشانی ایمیل خود را تأیید کنید"
    assert "سلام ali،" in mail.text


def test_russian_plural_follows_the_number(context) -> None:
    def minutes(count: str) -> str:
        return render_mail("password_reset", "ru", {**CONTEXTS["password_reset"], "minutes": count}).text

    assert "21 минуту" in minutes("21")
    assert "3 минуты" in minutes("3")
    assert "30 минут" in minutes("30")
    assert (
        "for 1 minute."
        in render_mail("password_reset", "en", {**CONTEXTS["password_reset"], "minutes": "1"}).text
    )


def test_context_is_escaped_in_html_and_left_as_is_in_text(context) -> None:
    evil = {"username": '<script>alert("x")</script>', "new_email": "a&b@example.com"}
    mail = render_mail("email_changed_notice", "en", evil)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "a&amp;b@example.com" in mail.html
    assert '<script>alert("x")</script>' in mail.text


def test_email_change_notice_says_whether_it_was_only_requested(context) -> None:
    changed = render_mail("email_changed_notice", "en", CONTEXTS["email_changed_notice"])
    requested = render_mail(
        "email_changed_notice", "en", {**CONTEXTS["email_changed_notice"], "requested": "1"}
    )
    assert changed.subject == "Your email address was changed"
    assert "was changed to new@example.com" in changed.text
    assert requested.subject == "A change of your email address was requested"
    assert "only once it is confirmed" in requested.text
    for mail in (changed, requested):
        assert "reset your password" in mail.text


def test_unknown_language_falls_back_to_english(context) -> None:
    assert render_mail("verify_email", "de", CONTEXTS["verify_email"]).subject == "Confirm your email address"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("fa-IR,fa;q=0.9,en;q=0.5", "fa"),
        ("ru-RU", "ru"),
        ("de, ru;q=0.3", "ru"),
        ("de-DE", "en"),
        ("*", "en"),
        ("en-US,en;q=0.9,fa;q=0.8", "en"),
        (";;q=x,,\x00", "en"),
        ("fa;q=0, ru;q=0.5", "ru"),  # q=0: not acceptable at all
        ("fa-Arab-IR", "fa"),
        ("fa-IR, en;q=0.5", "fa"),  # a regional tag counts for its language, before a less wanted one
        ("ru_RU", "ru"),
        ("x" * 5000, "en"),
    ],
)
def test_negotiate_language_picks_the_best_supported(header: str | None, language: str) -> None:
    assert negotiate_language(header) == language


def test_queued_mail_commits_and_rolls_back_with_the_callers_transaction(context) -> None:
    queue_mail("verify_email", to="ali@example.com", language="ru", context=CONTEXTS["verify_email"])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0

    message = queue_mail(
        "verify_email", to="ali@example.com", language="ru", context=CONTEXTS["verify_email"]
    )
    db.session.commit()
    stored = db.session.scalars(sa.select(MailMessage)).one()
    assert stored.id == message.id
    assert (stored.status, stored.attempts, stored.sent_at, stored.language) == ("pending", 0, None, "ru")
    assert re.fullmatch(r"<[^<>@\s]+@localhost>", stored.message_id)
    assert CYRILLIC.search(stored.subject) and CYRILLIC.search(stored.text_body)
    assert '<html lang="ru" dir="ltr">' in stored.html_body


def test_a_commit_that_queued_mail_wakes_the_sender(context) -> None:
    mail_sender._wake.clear()
    db.session.add(
        MailMessage(  # a change that queued nothing
            to_address="x@example.com",
            subject="s",
            text_body="t",
            html_body="h",
            language="en",
            template="verify_email",
            message_id="<one@localhost>",
        )
    )
    db.session.commit()
    assert not mail_sender._wake.is_set()
    queue_mail("verify_email", to="ali@example.com", language="en", context=CONTEXTS["verify_email"])
    db.session.rollback()
    db.session.commit()
    assert not mail_sender._wake.is_set()
    queue_mail("verify_email", to="ali@example.com", language="en", context=CONTEXTS["verify_email"])
    db.session.commit()
    assert mail_sender._wake.is_set()
