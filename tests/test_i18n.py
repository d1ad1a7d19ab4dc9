"""Every text shown to people exists in French (tools/i18n.py extracts; this checks)."""

from __future__ import annotations

from tools.i18n import untranslated


def test_every_message_has_a_french_translation():
    gaps = untranslated()
    assert gaps == {}, "run `python -m tools.i18n update` and translate: " + repr(gaps)


def test_country_list_has_real_countries_only(app):
    from flask_babel import force_locale

    from privacy_service.i18n import country_choices

    with app.test_request_context(), force_locale("fr"):
        countries = dict(country_choices())
    assert countries["FR"] == "France" and countries["DE"] == "Allemagne"
    for pseudo in ("XA", "XB", "EU", "EZ", "UN", "ZZ", "QO"):
        assert pseudo not in countries
    names = list(countries.values())
    # Accents sort with their letter: Égypte among the E, not after Zimbabwe.
    assert names.index("Égypte") < names.index("Espagne") and names[-1] == "Zimbabwe"


def test_french_elides_before_a_vowel_only(app):
    from flask_babel import force_locale
    from markupsafe import Markup

    from privacy_service.i18n import elide, interpolate

    with app.test_request_context():
        with force_locale("fr"):
            assert elide("Les listes de Acme Shop", "Acme Shop") == "Les listes d’Acme Shop"
            assert elide("Les listes de Bricoles", "Bricoles") == "Les listes de Bricoles"
            assert interpolate("Le rôle de %(name)s", name="Ève") == "Le rôle d’Ève"
            escaped = elide(Markup("De %(n)s") % {"n": "Atelier & Co"}, "Atelier & Co")
            assert escaped == Markup("D’Atelier &amp; Co")
        with force_locale("en"):
            assert elide("Lists of Acme", "Acme") == "Lists of Acme"
