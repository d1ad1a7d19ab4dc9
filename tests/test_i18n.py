"""Every text shown to people exists in French (tools/i18n.py extracts; this checks)."""

from __future__ import annotations

from tools.i18n import untranslated


def test_every_message_has_a_french_translation():
    gaps = untranslated()
    assert gaps == {}, "run `python -m tools.i18n update` and translate: " + repr(gaps)
