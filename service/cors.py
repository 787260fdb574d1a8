"""Cross-origin access to ``/graphql`` for the origins in ``CORS_ORIGINS``, by Flask-Cors set up strictly."""

import re

from flask import Flask
from flask_cors import CORS

from .refresh_cookie import CSRF_HEADER

# What a front end on another origin may send, and read back, beyond what browsers always allow.
ALLOWED_HEADERS = ["Authorization", "Content-Type", CSRF_HEADER]
EXPOSED_HEADERS = [CSRF_HEADER]
ALLOWED_METHODS = ["GET", "POST", "OPTIONS"]
PREFLIGHT_MAX_AGE = 600


def allow_origins(app: Flask, origins: tuple[str, ...]) -> None:
    """Let scripts of exactly ``origins`` call ``/graphql`` with credentials; nothing else changes.

    Each origin is matched whole (a pattern of its escaped text, case aside),
    so Flask-Cors never reads one as a regular expression of its own, and
    answers to other origins, or to requests without ``Origin``, carry no
    CORS header at all.
    """
    CORS(
        app,
        resources={"/graphql": {}},
        origins=[re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins],
        supports_credentials=True,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        methods=ALLOWED_METHODS,
        max_age=PREFLIGHT_MAX_AGE,
        send_wildcard=False,
        always_send=False,
        vary_header=True,
        allow_private_network=False,
    )
