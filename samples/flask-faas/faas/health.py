"""Liveness and readiness probes."""
from flask import Blueprint, current_app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    # Redis is not checked: its outage must not take /register and /specialize out of service;
    # /jobs answers 503 by itself.
    registry = current_app.extensions["faas.registry"]
    if not registry.names:
        return {"status": "no functions found"}, 503
    return {"status": "ready", "functions": registry.names, "loaded": [f.name for f in registry.loaded]}
