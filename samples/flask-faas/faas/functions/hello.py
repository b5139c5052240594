"""GET /hello/<name>: a greeting."""
from flask import Blueprint

bp = Blueprint("hello", __name__)


def handle(payload: dict) -> dict:
    name = str(payload.get("name") or "world")
    return {"greeting": f"Hello, {name}!"}


@bp.get("/hello/<name>")
def hello(name):
    return handle({"name": name})
