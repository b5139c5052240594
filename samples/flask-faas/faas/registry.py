"""Loads user functions on demand and sends their requests to them."""
import importlib
import logging
import pkgutil
import threading
from dataclasses import dataclass
from types import ModuleType

from flask import Flask
from werkzeug.exceptions import HTTPException, NotFound

from . import functions
from .common import base_app

log = logging.getLogger(__name__)


class UnknownFunction(LookupError):
    """The name is not a module of faas.functions."""


@dataclass(frozen=True)
class Function:
    name: str
    module: ModuleType
    app: Flask

    @property
    def rules(self) -> list[str]:
        return sorted(rule.rule for rule in self.app.url_map.iter_rules())

    def serves(self, environ) -> bool:
        try:
            self.app.url_map.bind_to_environ(environ).match()
        except NotFound:
            return False
        except HTTPException:  # wrong method or slash redirect: this function's app answers it
            pass
        return True


def available() -> list[str]:
    """The function names: only the modules present in faas.functions can ever be imported."""
    return sorted(m.name for m in pkgutil.iter_modules(functions.__path__) if not m.name.startswith("_"))


class Registry:
    def __init__(self, config: dict):
        self.config = config
        self.names = available()
        self.loaded: tuple[Function, ...] = ()  # replaced, never mutated: readers need no lock
        self._by_name: dict[str, Function] = {}
        self._lock = threading.Lock()

    def check(self, name) -> None:
        if name not in self.names:
            raise UnknownFunction(f"unknown function {name!r} (available: {', '.join(self.names)})")

    def load(self, name: str) -> Function:
        self.check(name)
        with self._lock:  # gunicorn threads may ask for the same function at once
            if name not in self._by_name:
                module = importlib.import_module(f"{functions.__name__}.{name}")
                app = base_app(module.__name__, self.config)
                app.register_blueprint(module.bp)
                self._by_name[name] = function = Function(name, module, app)
                self.loaded = tuple(self._by_name.values())
                log.info("loaded function %s: %s", name, " ".join(function.rules))
            return self._by_name[name]


class Dispatcher:
    """WSGI middleware: a request for a loaded function's route goes to that function's app."""

    def __init__(self, core, registry: Registry):
        self.core = core
        self.registry = registry

    def __call__(self, environ, start_response):
        for function in self.registry.loaded:
            if function.serves(environ):
                return function.app(environ, start_response)
        return self.core(environ, start_response)
