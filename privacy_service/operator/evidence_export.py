"""The dossier as a signed PDF: rendered by WeasyPrint from the page's own template, signed by
the service (signed_pdf.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import render_template

from privacy_service import service_signature
from privacy_service.operator.dossier import Dossier
from privacy_service.operator.signed_pdf import sign_pdf

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "operator" / "dossier_pdf.css"


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    # Text typed by people (consent texts, quotes) must never make the server fetch anything.
    raise ValueError(f"evidence documents fetch nothing ({url[:40]})")


def render_dossier_pdf(dossier: Dossier) -> bytes:
    from weasyprint import CSS, HTML

    html = render_template(
        "operator/dossier_pdf.html", dossier=dossier, key_id=service_signature.key_id()
    )
    document = HTML(string=html, url_fetcher=_refuse_fetch)
    return document.write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])


def signed_dossier_pdf(dossier: Dossier) -> bytes:
    return sign_pdf(render_dossier_pdf(dossier), reason="Subject dossier (GDPR art. 5(2))")
