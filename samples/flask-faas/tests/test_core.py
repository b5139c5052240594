import socket

import pytest

from faas.functions import hello, wordcount
from faas.registry import Registry, UnknownFunction, available

POD = socket.gethostname()


def test_functions_are_the_modules_of_the_package():
    assert available() == ["hello", "wordcount"]


def test_register_loads_every_function_and_returns_their_rules(client):
    assert client.get("/hello/ada").status_code == 404

    r = client.post("/register")

    assert r.status_code == 200
    assert r.json == {"pool": "specialize", "pod": POD,
                      "functions": {"hello": ["/hello/<name>"], "wordcount": ["/wordcount"]}}
    assert client.get("/hello/ada").json["greeting"] == "Hello, ada!"
    assert client.post("/wordcount", json={"text": "a b a"}).json["counts"] == {"a": 2, "b": 1}


def test_specialize_loads_only_that_function(client):
    assert client.get("/hello/ada").status_code == 404

    r = client.post("/specialize", json={"endpoint": "hello"})

    assert r.status_code == 200
    assert r.json == {"pool": "specialize", "pod": POD, "endpoint": "hello", "rules": ["/hello/<name>"]}
    greeting = client.get("/hello/ada")
    assert greeting.status_code == 200
    assert greeting.json == {"greeting": "Hello, ada!", "pool": "specialize", "pod": POD}
    # The other function is still not loaded.
    missing = client.post("/wordcount", json={"text": "a"})
    assert missing.status_code == 404
    assert missing.json["pod"] == POD and "error" in missing.json


def test_specialize_twice_loads_once(app, client):
    for _ in range(2):
        assert client.post("/specialize", json={"endpoint": "wordcount"}).status_code == 200
    assert [f.name for f in app.extensions["faas.registry"].loaded] == ["wordcount"]


def test_loaded_function_routes_keep_http_semantics(client):
    client.post("/specialize", json={"endpoint": "wordcount"})

    assert client.post("/wordcount", data="one two\nthree").json["words"] == 3
    wrong_method = client.get("/wordcount")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.json["pool"] == "specialize"
    bad = client.post("/wordcount", json={"text": 3})
    assert bad.status_code == 400
    assert bad.json["error"] == '"text" must be a string'


def test_core_routes_still_answer_after_loading(client):
    client.post("/register")
    assert client.get("/healthz").status_code == 200
    assert client.post("/specialize", json={"endpoint": "hello"}).status_code == 200


def test_specialize_unknown_function_is_404(client):
    r = client.post("/specialize", json={"endpoint": "nope"})
    assert r.status_code == 404
    assert r.json["error"] == "unknown function 'nope' (available: hello, wordcount)"
    assert r.json["pool"] == "specialize"


@pytest.mark.parametrize("kwargs, error", [
    ({"data": "not json", "content_type": "application/json"}, "the body must be a JSON object"),
    ({}, "the body must be a JSON object"),
    ({"json": ["hello"]}, "the body must be a JSON object"),
    ({"json": {}}, '"endpoint" must be a function name (a non-empty string)'),
    ({"json": {"endpoint": 3}}, '"endpoint" must be a function name (a non-empty string)'),
    ({"json": {"endpoint": ""}}, '"endpoint" must be a function name (a non-empty string)'),
])
def test_specialize_bad_body_is_400(client, kwargs, error):
    r = client.post("/specialize", **kwargs)
    assert r.status_code == 400
    assert r.json["error"] == error
    assert r.json["pod"] == POD


@pytest.mark.parametrize("name", ["os", "../x", "faas.common", "functions.hello", "__init__", "hello.py"])
def test_only_function_modules_can_be_loaded(client, monkeypatch, name):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda *a, **k: imported.append(a))

    assert client.post("/specialize", json={"endpoint": name}).status_code == 404
    with pytest.raises(UnknownFunction):
        Registry({"POOL": "test"}).load(name)
    assert imported == []


def test_handle_is_what_the_routes_call():
    assert hello.handle({"name": "ada"}) == {"greeting": "Hello, ada!"}
    assert hello.handle({}) == {"greeting": "Hello, world!"}
    assert wordcount.handle({"text": "To be, or not to be\n"}) == {
        "words": 6, "lines": 1, "counts": {"to": 2, "be": 2, "or": 1, "not": 1}}
    with pytest.raises(ValueError):
        wordcount.handle({})


def test_unknown_route_and_method_are_json(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json["pool"] == "specialize"
    r = client.get("/register")
    assert r.status_code == 405 and r.json["error"]


def test_pool_defaults_to_master(monkeypatch, tmp_path):
    from faas import create_app
    monkeypatch.delenv("ENDPOINT", raising=False)
    monkeypatch.setenv("JOBS_LIST", "from-env")
    app = create_app({"REDIS_URL": f"unix://{tmp_path}/absent.sock"})
    assert app.config["POOL"] == "master" and app.config["JOBS_LIST"] == "from-env"
    assert app.test_client().get("/healthz").json == {"status": "ok", "pool": "master", "pod": POD}
