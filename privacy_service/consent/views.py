from flask import Blueprint

blueprint = Blueprint("consent", __name__, template_folder="templates")
