"""The baseline of bench/consent_check.py: a bare Flask endpoint answering a fixed consent check.

Served by the same gunicorn command as the real service, so the comparison isolates what the
service adds (token check, validation, blind index, the database look-up).
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/api/v1/consent/check")
def check() -> object:
    return jsonify(
        {"allowed": False, "purpose": "marketing_email", "organisation": None, "decided_by": None}
    )
