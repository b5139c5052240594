"""The article's two endpoints: /register loads every function, /specialize loads one."""
from flask import Blueprint, current_app

from .common import endpoint_of, json_object

bp = Blueprint("core", __name__)


@bp.post("/register")
def register():
    registry = current_app.extensions["faas.registry"]
    return {"functions": {name: registry.load(name).rules for name in registry.names}}


@bp.post("/specialize")
def specialize():
    name = endpoint_of(json_object())
    function = current_app.extensions["faas.registry"].load(name)
    return {"endpoint": name, "rules": function.rules}
