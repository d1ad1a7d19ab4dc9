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
_VOWELS = tuple("aeiouyàâäéèêëîïôöùûüAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜ")
_ELIDED = {"de": "d’", "De": "D’", "le": "l’", "Le": "L’", "la": "l’", "La": "L’"}
_ELIDED |= {"que": "qu’", "Que": "Qu’"}


def elide(text: str, *values: Any) -> str:
    """In French, elide the article or preposition before each value that starts with a vowel."""
    if str(get_locale()) != "fr":
        return text
    for value in {str(value) for value in values if value}:
        if not value.startswith(_VOWELS):
            continue
        pattern = re.compile(r"\b(" + "|".join(_ELIDED) + r") " + re.escape(value))
        text = pattern.sub(lambda match, value=value: _ELIDED[match.group(1)] + value, text)
    return text


def interpolate(template: str, **values: Any) -> str:
    """``template % values``, eliding French words before values that start with a vowel."""
    return elide(template % values, *values.values())
