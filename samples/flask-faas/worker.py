"""Queue worker: runs the jobs queued by POST /jobs (python3 -m worker).

KEDA scales this pool from zero on the length of the Redis list JOBS_LIST.
"""
import json
import logging
import signal
import sys
import time

import redis

from faas.common import identity, load_config, setup_logging
from faas.jobs import JOB_ID, RESULT_TTL, connect, result_key
from faas.registry import Registry

log = logging.getLogger("faas.worker")

POLL_SECONDS = 5  # BLPOP timeout: also bounds how long SIGTERM waits while idle


def run(registry: Registry, raw: bytes) -> tuple[str | None, str | None, dict]:
    """Run one job: (id, endpoint, result). A bad job gives a failed result, never an exception."""
    try:
        job = json.loads(raw)
    except ValueError as error:
        return None, None, {"status": "failed", "error": f"job is not JSON: {error}"}
    job_id = job.get("id") if isinstance(job, dict) else None
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return None, None, {"status": "failed", "error": "job has no valid id"}
    endpoint = job.get("endpoint")
    try:
        payload = job.get("payload", {})
        if not isinstance(payload, dict):
            raise ValueError("payload must be a JSON object")
        result = registry.load(endpoint).module.handle(payload)
    except Exception as error:  # a user function may raise anything; the worker must survive it
        return job_id, endpoint, {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    return job_id, endpoint, {"status": "done", "result": result}


def process_one(client: redis.Redis, config: dict, registry: Registry, timeout: float = POLL_SECONDS):
    """Wait up to `timeout` s for a job, run it and store its result; None if none came."""
    item = client.blpop([config["JOBS_LIST"]], timeout=timeout)
    if item is None:
        return None
    started = time.monotonic()
    job_id, endpoint, doc = run(registry, item[1])
    doc.update(identity(config))
    # A job without an id cannot be polled for, so it is only logged. A job popped just before
    # Redis fails is lost: the queue is at-most-once.
    if job_id:  # default=str: a result that is not plain JSON is stored as text, not lost
        client.set(result_key(config["JOBS_LIST"], job_id), json.dumps(doc, default=str), ex=RESULT_TTL)
    log.info("job %s endpoint=%s status=%s %.0fms%s", job_id or "-", endpoint or "-", doc["status"],
             (time.monotonic() - started) * 1000, f" error={doc['error']!r}" if "error" in doc else "")
    return doc


def main() -> int:
    config = load_config(default_pool="jobs")
    setup_logging(config["LOG_LEVEL"])
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True  # only a flag: the job in progress finishes, then the loop exits

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The socket timeout must outlast BLPOP's own wait.
    client = connect(config["REDIS_URL"], socket_timeout=POLL_SECONDS + 10)
    registry = Registry(config)
    log.info("pool %s waiting for jobs on %s", config["POOL"], config["JOBS_LIST"])
    backoff = 1
    while not stopping:
        try:
            process_one(client, config, registry)
            backoff = 1
        except redis.RedisError as error:  # redis-py reconnects on the next command
            log.warning("redis unavailable (%s); retrying in %ss", error, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5)  # short: KEDA started us for queued work
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
