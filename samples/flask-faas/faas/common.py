"""Configuration, logging and the JSON conventions shared by the apps and the worker."""
import logging
import os
import socket

from flask import Flask, abort, current_app, request
from werkzeug.exceptions import HTTPException


def load_config(default_pool: str = "master") -> dict:
    return {
        "POOL": os.environ.get("ENDPOINT") or default_pool,
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://localhost:6379/0",
        "JOBS_LIST": os.environ.get("JOBS_LIST") or "flask-faas-jobs",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL") or "info",
        "FUNCTION_ROUTER": os.environ.get("FUNCTION_ROUTER", ""),
    }


def setup_logging(level: str) -> None:
    numeric = logging.getLevelName(str(level).upper())
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(numeric if isinstance(numeric, int) else logging.INFO)


def identity(config: dict) -> dict:
    """Which pool and pod answered: every JSON answer carries it."""
    return {"pool": config["POOL"], "pod": socket.gethostname()}


def base_app(import_name: str, config: dict) -> Flask:
    """A Flask app whose JSON answers, errors included, carry the pool and pod."""
    app = Flask(import_name, static_folder=None)
    app.config.update(config)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_stamp)
    return app


def _http_error(error: HTTPException):
    # Keep the exception's headers (e.g. Allow on a 405) but answer JSON, not an HTML page.
    response = error.get_response()
    response.data = current_app.json.dumps({"error": error.description})
    response.content_type = "application/json"
    return response


def _stamp(response):
    if response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            body.update(identity(current_app.config))
            response.set_data(current_app.json.dumps(body))
    return response


def json_object() -> dict:
    # force: a client that forgets the Content-Type header still gets its JSON read.
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    return body


def endpoint_of(body: dict) -> str:
    name = body.get("endpoint")
    if not isinstance(name, str) or not name:
        abort(400, '"endpoint" must be a function name (a non-empty string)')
    return name
