import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import worker
from faas.registry import Registry

APP_DIR = Path(__file__).resolve().parents[1]
POD = socket.gethostname()


@pytest.fixture
def jobs_client(jobs_app):
    return jobs_app.test_client()


@pytest.fixture
def worker_config(jobs_app):
    return {**jobs_app.config, "POOL": "jobs"}


def test_job_roundtrip(jobs_client, redis_client, worker_config):
    r = jobs_client.post("/jobs", json={"endpoint": "wordcount", "payload": {"text": "a b a"}})

    assert r.status_code == 202
    job_id = r.json["id"]
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    assert r.json["list"] == "test-jobs" and r.json["pool"] == "specialize"
    assert r.headers["Location"].endswith(f"/jobs/{job_id}")
    queued = [json.loads(raw) for raw in redis_client.lrange("test-jobs", 0, -1)]
    assert queued == [{"id": job_id, "endpoint": "wordcount", "payload": {"text": "a b a"}}]

    pending = jobs_client.get(f"/jobs/{job_id}")
    assert pending.status_code == 202 and pending.json["status"] == "queued"

    doc = worker.process_one(redis_client, worker_config, Registry(worker_config), timeout=1)
    assert doc["status"] == "done"
    assert redis_client.llen("test-jobs") == 0
    assert 0 < redis_client.ttl(f"test-jobs:result:{job_id}") <= 3600

    done = jobs_client.get(f"/jobs/{job_id}")
    assert done.status_code == 200
    assert done.json == {
        "id": job_id, "status": "done",
        "result": {"words": 3, "lines": 1, "counts": {"a": 2, "b": 1}},
        "worker": {"pool": "jobs", "pod": POD},
        "pool": "specialize", "pod": POD,
    }


def test_process_one_returns_none_when_idle(redis_client, worker_config):
    assert worker.process_one(redis_client, worker_config, Registry(worker_config), timeout=1) is None


def test_bad_jobs_are_failed_and_the_worker_survives(jobs_client, redis_client, worker_config):
    registry = Registry(worker_config)
    ids = {"unknown": "1" * 32, "raises": "2" * 32, "payload": "3" * 32}
    redis_client.rpush("test-jobs", b"{not json",
                       json.dumps({"id": ids["unknown"], "endpoint": "os", "payload": {}}),
                       json.dumps({"id": ids["raises"], "endpoint": "wordcount", "payload": {"text": 3}}),
                       json.dumps({"id": ids["payload"], "endpoint": "hello", "payload": [1]}))
    good = jobs_client.post("/jobs", json={"endpoint": "hello", "payload": {"name": "ada"}}).json["id"]

    docs = [worker.process_one(redis_client, worker_config, registry, timeout=1) for _ in range(5)]

    assert [d["status"] for d in docs] == ["failed"] * 4 + ["done"]
    assert "not JSON" in docs[0]["error"]
    stored = {name: json.loads(redis_client.get(f"test-jobs:result:{job_id}")) for name, job_id in ids.items()}
    assert stored["unknown"]["status"] == "failed" and "unknown function 'os'" in stored["unknown"]["error"]
    assert stored["raises"]["error"] == 'ValueError: "text" must be a string'
    assert stored["payload"]["error"] == "ValueError: payload must be a JSON object"
    assert all(doc["pool"] == "jobs" for doc in stored.values())
    assert jobs_client.get(f"/jobs/{ids['raises']}").json["status"] == "failed"
    assert jobs_client.get(f"/jobs/{good}").json["result"] == {"greeting": "Hello, ada!"}


@pytest.mark.parametrize("body, status, error", [
    ({"endpoint": "nope"}, 404, "unknown function 'nope' (available: hello, wordcount)"),
    ({"endpoint": "../x"}, 404, "unknown function '../x' (available: hello, wordcount)"),
    ({"payload": {}}, 400, '"endpoint" must be a function name (a non-empty string)'),
    ({"endpoint": "hello", "payload": "ada"}, 400, '"payload" must be a JSON object'),
    ("text", 400, "the body must be a JSON object"),
])
def test_submit_rejects_bad_bodies(jobs_client, redis_client, body, status, error):
    r = jobs_client.post("/jobs", json=body)
    assert r.status_code == status
    assert r.json["error"] == error
    assert redis_client.llen("test-jobs") == 0


def test_malformed_job_id_is_404(jobs_client):
    assert jobs_client.get("/jobs/not-an-id").status_code == 404


def test_jobs_answer_503_when_redis_is_down(client):
    r = client.post("/jobs", json={"endpoint": "hello", "payload": {"name": "ada"}})
    assert r.status_code == 503
    assert r.is_json and r.json["error"].startswith("job queue unavailable")
    assert r.json["pool"] == "specialize" and r.headers["Retry-After"] == "5"
    r = client.get("/jobs/" + "0" * 32)
    assert r.status_code == 503 and r.is_json


def start_worker(redis_url):
    env = {**os.environ, "REDIS_URL": redis_url, "JOBS_LIST": "test-jobs", "ENDPOINT": "jobs"}
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=APP_DIR, env=env,
                            stderr=subprocess.PIPE, text=True)


def test_worker_process_runs_jobs_and_exits_0_on_sigterm(jobs_client, redis_client, redis_url):
    proc = start_worker(redis_url)
    try:
        job_id = jobs_client.post("/jobs", json={"endpoint": "hello", "payload": {"name": "ada"}}).json["id"]
        deadline = time.monotonic() + 15
        while jobs_client.get(f"/jobs/{job_id}").status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert jobs_client.get(f"/jobs/{job_id}").json["result"] == {"greeting": "Hello, ada!"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert f"job {job_id} endpoint=hello status=done" in proc.stderr.read()


def test_worker_process_waits_out_a_redis_outage(tmp_path):
    proc = start_worker(f"unix://{tmp_path}/absent.sock")
    try:
        time.sleep(1.5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert "redis unavailable" in proc.stderr.read()
