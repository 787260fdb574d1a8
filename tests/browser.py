"""Headless Chromium for the browser tests (marked ``clients``): Debian's ``chromium`` through
Playwright from PyPI, whose own browser download is never used. A missing browser fails the run.

Playwright is imported where it is used: plain ``make test``, which does not install it, still
collects the browser test modules (and deselects them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from server import PROJECT_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# The machine may have no route out: nothing in the browser may try to phone home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Where a failing test leaves its screenshot (a CI artefact).
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or PROJECT_ROOT / "test-artifacts")


@contextmanager
def chromium() -> Iterator[Browser]:
    """The system's Chromium, headless, closed afterwards."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "Chromium is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
