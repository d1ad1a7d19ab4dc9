"""Language selection (an explicit choice, else the browser), French elision and localised reference
lists (countries, language names)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from babel import Locale, UnknownLocaleError
from flask import current_app, has_request_context, request
from flask_babel import get_locale
from markupsafe import Markup, escape

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
    # Logged in or not, pages follow the browser until the person picks a language with the
    # switch (the cookie above). The account's language is for what is sent to them (emails).
    return request.accept_languages.best_match(languages) or languages[0]


# CLDR names two-letter regions that are no country: pseudo-locales (XA, XB), groupings (EU, EZ,
# UN, QO), the unknown region (ZZ) and territories ISO 3166-1 does not list (AC, CP, CQ, DG, EA,
# IC, TA). Kosovo (XK) stays: a user-assigned code, but a country people live in.
NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN"})
NOT_COUNTRIES |= {"XA", "XB", "ZZ"}


def country_choices() -> list[tuple[str, str]]:
    """ISO 3166 countries named in the page's language, sorted by that name."""
    territories = get_locale().territories
    countries = [
        (code, name)
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    ]
    return sorted(countries, key=lambda item: locale_sort_key(item[1]))


def locale_sort_key(name: str) -> str:
    """Accents sort with their letter ("Égypte" among the E), as a French reader expects."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


# French elides "de", "le", "la" and "que" before a vowel: "d’Acme Shop", not "de Acme Shop".
_VOWELS = tuple("aeiouyàâäéèêëîïôöùûüAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜ")
_ELIDED = {"de": "d’", "De": "D’", "le": "l’", "Le": "L’", "la": "l’", "La": "L’"}
_ELIDED |= {"que": "qu’", "Que": "Qu’"}


def elide(text: str, *values: Any) -> str:
    """In French, elide the article or preposition before each value that starts with a vowel."""
    if str(get_locale()) != "fr":
        return text
    # Markup (an escaped template string) stays Markup, so it is not escaped twice.
    wrap = Markup if isinstance(text, Markup) else str
    for value in {str(escape(value) if wrap is Markup else value) for value in values if value}:
        if not value.startswith(_VOWELS):
            continue
        pattern = re.compile(r"\b(" + "|".join(_ELIDED) + r") " + re.escape(value))
        text = pattern.sub(lambda match, value=value: _ELIDED[match.group(1)] + value, str(text))
    return wrap(text)


def interpolate(template: str, **values: Any) -> str:
    """``template % values``, eliding French words before values that start with a vowel."""
    return elide(template % values, *values.values())


def language_name(code: str | None) -> str:
    """A language named in the page's language ("anglais" on a French page), for data about
    someone's language; the language switch names each language in itself instead."""
    if not code:
        return ""
    try:
        return Locale.parse(code).get_language_name(get_locale()) or code
    except (ValueError, UnknownLocaleError):
        return code
