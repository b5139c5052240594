"""User functions, one module each exposing `bp` (its routes) and `handle(payload) -> dict`.
Only the modules of this package can be loaded."""
