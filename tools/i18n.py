"""Message catalogues: one for the package root (shared templates, errors) and one per feature.

    python -m tools.i18n update     extract messages and add new ones to each French catalogue
    python -m tools.i18n check      list messages without a French translation (exit 1 if any)
    python -m tools.i18n compile    write the .mo files the running service reads

A feature folder owns ``<feature>/translations/fr/LC_MESSAGES/messages.po``; Flask-Babel merges
them all at start-up (see ``create_app``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parents[1] / "privacy_service"
LOCALES = ("fr",)
NOT_FEATURES = {"translations", "templates", "static", "migrations", "__pycache__"}
METHOD_MAP = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
]
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}


def domains() -> dict[str, Path]:
    """Catalogue name -> folder whose strings it holds ("" is the package root)."""
    found = {"": PACKAGE}
    for folder in sorted(PACKAGE.iterdir()):
        if (
            folder.is_dir()
            and folder.name not in NOT_FEATURES
            and (folder / "__init__.py").exists()
        ):
            found[folder.name] = folder
    return found


def _directory_filter(root: Path, is_package_root: bool):
    def allow(dirpath: str) -> bool:
        path = Path(dirpath)
        if "translations" in path.parts or "__pycache__" in path.parts:
            return False
        if not is_package_root or path == root:
            return True
        return path.relative_to(root).parts[0] == "templates"

    return allow


def extract(name: str, folder: Path) -> Catalog:
    catalog = Catalog(project="privacy_service", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(folder),
        METHOD_MAP,
        keywords=KEYWORDS,
        directory_filter=_directory_filter(folder, name == ""),
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def catalogue_path(folder: Path, locale: str) -> Path:
    return folder / "translations" / locale / "LC_MESSAGES" / "messages.po"


def _entries(catalog: Catalog) -> set[tuple]:
    return {
        (str(message.id), str(message.string), message.fuzzy) for message in catalog if message.id
    }


def update() -> None:
    for name, folder in domains().items():
        template = extract(name, folder)
        if not len(template):
            continue
        for locale in LOCALES:
            path = catalogue_path(folder, locale)
            if path.exists():
                with path.open("rb") as handle:
                    catalog = read_po(handle, locale=locale)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                catalog = Catalog(locale=locale, project="privacy_service", charset="utf-8")
            before = _entries(catalog)
            catalog.update(template, no_fuzzy_matching=True)
            if path.exists() and _entries(catalog) == before:
                continue  # unchanged messages: leave the file (and its history) alone
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, omit_header=False, ignore_obsolete=True)
            print(f"{path.relative_to(PACKAGE.parent)}: {len(catalog)} messages")


def compile_catalogues() -> None:
    """Write each .mo next to its .po when the .po is newer."""
    for po_path in sorted(PACKAGE.glob("**/translations/*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)


def untranslated() -> dict[str, list[str]]:
    """Per catalogue, the extracted messages that have no French translation."""
    missing: dict[str, list[str]] = {}
    for name, folder in domains().items():
        template = extract(name, folder)
        if not len(template):
            continue
        for locale in LOCALES:
            path = catalogue_path(folder, locale)
            translated: dict = {}
            if path.exists():
                with path.open("rb") as handle:
                    catalog = read_po(handle, locale=locale)
                translated = {
                    message.id: message
                    for message in catalog
                    if message.id and message.string and not message.fuzzy
                }
            gaps = [
                str(message.id)
                for message in template
                if message.id and message.id not in translated
            ]
            if gaps:
                missing[f"{name or '(root)'}:{locale}"] = gaps
    return missing


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_catalogues()
    else:
        gaps = untranslated()
        for where, messages in gaps.items():
            print(f"{where}: {len(messages)} untranslated")
            for message in messages:
                print(f"  {message!r}")
        sys.exit(1 if gaps else 0)
