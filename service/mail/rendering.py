"""Messages rendered from the package's Jinja2 templates, in the recipient's language.

Each message ``<name>`` is ``templates/mail/<name>.txt`` (whose ``subject``
block is the subject) and ``templates/mail/<name>.html``. Their sentences are
English and translated through the gettext catalogs in ``service/translations``.
"""

from dataclasses import dataclass

from babel import Locale
from flask import current_app
from flask_babel import force_locale

SUPPORTED_LANGUAGES = ("en", "fa", "ru")
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def text_direction(language: str) -> str:
    """``rtl`` for right-to-left languages (Persian), else ``ltr``."""
    return Locale.parse(language).text_direction


def render_mail(template: str, language: str, context: dict[str, str]) -> RenderedMail:
    """The subject, plain text and HTML of message ``template`` in ``language`` (inside an app context)."""
    if language not in SUPPORTED_LANGUAGES:
        language = DEFAULT_LANGUAGE
    env = current_app.jinja_env
    variables = {**context, "language": language, "direction": text_direction(language)}
    with force_locale(language):
        text_template = env.get_template(f"mail/{template}.txt")
        subject_block = text_template.blocks["subject"](text_template.new_context(variables))
        # A header is one line: whatever the template's layout, the subject's words joined by spaces.
        subject = " ".join("".join(subject_block).split())
        text = text_template.render(variables)
        html = env.get_template(f"mail/{template}.html").render(variables, subject=subject)
    return RenderedMail(subject=subject, text=text.strip() + "\n", html=html.strip() + "\n")
