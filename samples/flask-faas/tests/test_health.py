import socket


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "pool": "specialize", "pod": socket.gethostname()}


def test_readyz_lists_functions_and_loaded_ones(client):
    assert client.get("/readyz").json["loaded"] == []
    client.post("/specialize", json={"endpoint": "wordcount"})

    r = client.get("/readyz")

    assert r.status_code == 200
    assert r.json["status"] == "ready"
    assert r.json["functions"] == ["hello", "wordcount"]
    assert r.json["loaded"] == ["wordcount"]


def test_readyz_ignores_redis_outage(client):
    # The app fixture points at a Redis that does not exist.
    assert client.get("/readyz").status_code == 200


def test_readyz_not_ready_without_functions(app, client):
    app.extensions["faas.registry"].names = []
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["status"] == "no functions found"
