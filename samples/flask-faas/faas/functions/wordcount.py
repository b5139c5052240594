"""POST /wordcount: counts the words of a text (a JSON {"text": ...} or the raw body)."""
import re
from collections import Counter

from flask import Blueprint, abort, request

bp = Blueprint("wordcount", __name__)


def handle(payload: dict) -> dict:
    text = payload.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    words = re.findall(r"\w+", text.lower())
    return {"words": len(words), "lines": len(text.splitlines()), "counts": dict(Counter(words))}


@bp.post("/wordcount")
def wordcount():
    body = request.get_json(silent=True)
    payload = body if isinstance(body, dict) else {"text": request.get_data(as_text=True)}
    try:
        return handle(payload)
    except ValueError as error:
        abort(400, str(error))
