import shutil
import subprocess
import time

import pytest
import redis

from faas import create_app


def make_app(redis_url, **overrides):
    config = {"TESTING": True, "POOL": "specialize", "REDIS_URL": redis_url,
              "JOBS_LIST": "test-jobs", "LOG_LEVEL": "debug", **overrides}
    return create_app(config)


@pytest.fixture
def app(tmp_path):
    # Nothing listens on this socket: Redis is "down" unless a test uses redis_url.
    return make_app(f"unix://{tmp_path}/absent.sock")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    probe = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"unix://{sock}"
    probe.close()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url):
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def jobs_app(redis_url):
    return make_app(redis_url)
