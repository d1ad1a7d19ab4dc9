"""Every subject-data provider's section has a label in both languages (requests/labels.py)."""

from __future__ import annotations

from flask_babel import force_locale

from privacy_service.requests.labels import SECTION_LABELS
from privacy_service.subjects import providers


def test_every_provider_section_is_labelled_in_english_and_french(app):
    assert list(SECTION_LABELS) == [provider.section for provider in providers()]
    for section, label in SECTION_LABELS.items():
        with force_locale("fr"):
            french = str(label)
        with force_locale("en"):
            english = str(label)
        assert french != english, section
