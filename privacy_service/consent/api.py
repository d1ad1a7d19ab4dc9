from flask import Blueprint

blueprint = Blueprint("consent_api", __name__, url_prefix="/api/v1")
