"""WSGI entry point: gunicorn runs server:app from this directory."""
from faas import create_app

app = create_app()
