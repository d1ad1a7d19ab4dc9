"""Language selection (cookie, then account, then browser) and localised reference lists."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

LANGUAGE_COOKIE = "lang"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def select_locale() -> str | None:
    """The request's language; outside a request (jobs, workers) the default, unless forced."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or languages[0]


def country_choices() -> list[tuple[str, str]]:
    """ISO 3166 countries named in the page's language, sorted by that name."""
    territories = get_locale().territories
    countries = [
        (code, name) for code, name in territories.items() if len(code) == 2 and code.isalpha()
    ]
    return sorted(countries, key=lambda item: item[1])


# French elides "de", "le", "la" and "que" before a vowel: "d’Acme Shop", not "de Acme Shop".
_ELIDABLE = re.compile(r"\b([Dd]e|[Ll][ea]|[Qq]ue) %\((\w+)\)s")
_VOWELS = tuple("aeiouyàâäéèêëîïôöùûüAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜ")


def interpolate(template: str, **values: Any) -> str:
    """``template % values``, eliding French articles before values that start with a vowel."""
    if str(get_locale()) == "fr":

        def _elide(match: re.Match[str]) -> str:
            word, name = match.group(1), match.group(2)
            if str(values.get(name, "")).startswith(_VOWELS):
                return f"{word[:-1] if word[-1] == 'e' and len(word) == 3 else word[0]}’%({name})s"
            return match.group(0)

        template = _ELIDABLE.sub(_elide, template)
    return template % values
