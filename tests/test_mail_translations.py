"""The committed message catalogs: compiled from their .po files, complete, and in step with the templates."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from service.mail import SUPPORTED_LANGUAGES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = PROJECT_ROOT / "service" / "translations"
PYBABEL = Path(sys.executable).parent / "pybabel"
TRANSLATED = [language for language in SUPPORTED_LANGUAGES if language != "en"]


def _entries(catalog) -> dict[object, object]:
    """msgid -> msgstr; a plural's forms as tuples (read_mo gives lists)."""

    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(message.id): frozen(message.string) for message in catalog if message.id}


def _po(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file)


@pytest.mark.parametrize("language", TRANSLATED)
def test_committed_mo_file_is_the_compiled_po_file(tmp_path: Path, language: str) -> None:
    source = tmp_path / language / "LC_MESSAGES"
    source.mkdir(parents=True)
    (source / "messages.po").write_bytes(
        (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").read_bytes()
    )
    subprocess.run([str(PYBABEL), "-q", "compile", "-d", str(tmp_path), "-l", language], check=True)
    with (
        (source / "messages.mo").open("rb") as fresh,
        (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").open("rb") as committed,
    ):
        fresh_catalog, committed_catalog = read_mo(fresh), read_mo(committed)
    assert _entries(committed_catalog) == _entries(fresh_catalog), "run: make translations"
    assert committed_catalog.plural_forms == fresh_catalog.plural_forms


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_sentence_is_translated(language: str) -> None:
    catalog = _po(language)
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated in {language}: {message.id!r}"
        assert not message.fuzzy, f"fuzzy in {language}: {message.id!r}"
    assert len(catalog.obsolete) == 0


def test_catalogs_hold_exactly_the_sentences_of_the_templates(tmp_path: Path) -> None:
    template = tmp_path / "messages.pot"
    subprocess.run(
        [str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "-o", str(template), "."],
        cwd=PROJECT_ROOT,
        check=True,
    )
    with template.open("rb") as file:
        extracted = {message.id for message in read_po(file) if message.id}
    for language in TRANSLATED:
        assert {message.id for message in _po(language) if message.id} == extracted, "run: make translations"
