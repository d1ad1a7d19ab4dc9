"""The operator's template folder: ``templates/`` at the repository root (or
``PRIVACY_SERVICE_TEMPLATE_OVERRIDES``) is searched before the package's own templates, so a
template placed there (a page, an email, the cookie banner) replaces the built-in one of the same
path. The package keeps every template it needs, so a plain ``pip install`` works without the
folder. See ``templates/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory
from flask.typing import ResponseReturnValue
from jinja2 import ChoiceLoader, FileSystemLoader

from privacy_service.route_access import public

REPOSITORY_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def overrides_directory(app: Flask) -> Path | None:
    """The configured folder, else the repository's ``templates/`` when it exists."""
    configured = app.config.get("TEMPLATE_OVERRIDES")
    if configured:
        return Path(configured)
    return REPOSITORY_TEMPLATES if REPOSITORY_TEMPLATES.is_dir() else None


def init_app(app: Flask) -> None:
    """Put the override folder in front of every template lookup (blueprints included), and
    serve its ``static/`` folder (logo, stylesheet) at ``/brand/``."""
    directory = overrides_directory(app)

    # Always routed, so an override may call url_for('brand_static', ...); 404 without a folder.
    @app.get("/brand/<path:filename>", endpoint="brand_static")
    @public("brand assets of the template overrides")
    def brand_static(filename: str) -> ResponseReturnValue:
        if directory is None:
            abort(404)
        return send_from_directory(directory / "static", filename, max_age=3600)

    if directory is None:
        return
    # Flask's own loader already searches the app folder, then each blueprint's; ours comes first.
    loaders = [FileSystemLoader(str(directory))]
    if app.jinja_loader is not None:
        loaders.append(app.jinja_loader)
    app.jinja_loader = ChoiceLoader(loaders)
    app.config["TEMPLATE_OVERRIDES"] = str(directory)
