"""Flask FaaS: a Flask app whose functions are loaded on demand by /register and /specialize."""
from . import core, health, jobs
from .common import base_app, load_config, setup_logging
from .registry import Dispatcher, Registry, UnknownFunction


def create_app(config: dict | None = None):
    """Build the app from the environment (ENDPOINT, REDIS_URL, ...); `config` overrides it."""
    settings = load_config()
    settings.update(config or {})
    setup_logging(settings["LOG_LEVEL"])

    app = base_app(__name__, settings)
    registry = app.extensions["faas.registry"] = Registry(settings)
    app.register_error_handler(UnknownFunction, _unknown_function)
    for blueprint in (core.bp, health.bp, jobs.bp):
        app.register_blueprint(blueprint)
    # Flask forbids adding routes after the first request, so each loaded function is an app of
    # its own, picked per request by this middleware.
    app.wsgi_app = Dispatcher(app.wsgi_app, registry)
    app.logger.info("pool %s serving; functions: %s", settings["POOL"], ", ".join(registry.names))
    return app


def _unknown_function(error):
    return {"error": str(error)}, 404
