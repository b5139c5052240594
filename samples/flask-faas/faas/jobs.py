"""POST /jobs queues a call to a function on Redis; GET /jobs/<id> returns its result."""
import json
import re
import uuid

import redis
from flask import Blueprint, abort, current_app, url_for

from .common import endpoint_of, json_object

bp = Blueprint("jobs", __name__)

JOB_ID = re.compile(r"[0-9a-f]{32}")
RESULT_TTL = 3600  # seconds a result stays readable


def result_key(jobs_list: str, job_id: str) -> str:
    return f"{jobs_list}:result:{job_id}"


def connect(url: str, **options) -> redis.Redis:
    # Connects lazily: the app starts, and answers 503 on /jobs, while Redis is down.
    if not url.startswith("unix:"):  # redis-py 4.3 takes no connect timeout for unix sockets
        options["socket_connect_timeout"] = 2
    return redis.Redis.from_url(url, **options)


@bp.record_once
def _setup(state):
    state.app.extensions["faas.redis"] = connect(state.app.config["REDIS_URL"], socket_timeout=5)


@bp.post("/jobs")
def submit():
    body = json_object()
    name = endpoint_of(body)
    current_app.extensions["faas.registry"].check(name)
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        abort(400, '"payload" must be a JSON object')
    job_id = uuid.uuid4().hex
    jobs_list = current_app.config["JOBS_LIST"]
    job = {"id": job_id, "endpoint": name, "payload": payload}
    current_app.extensions["faas.redis"].rpush(jobs_list, json.dumps(job))
    return {"id": job_id, "list": jobs_list}, 202, {"Location": url_for(".result", job_id=job_id)}


@bp.get("/jobs/<job_id>")
def result(job_id):
    if not JOB_ID.fullmatch(job_id):
        abort(404, "no such job")
    raw = current_app.extensions["faas.redis"].get(result_key(current_app.config["JOBS_LIST"], job_id))
    if raw is None:
        return {"id": job_id, "status": "queued"}, 202
    stored = json.loads(raw)
    # The answer's pool and pod are this pod's; the worker's are kept apart.
    worker = {key: stored.pop(key, None) for key in ("pool", "pod")}
    return {"id": job_id, **stored, "worker": worker}


@bp.errorhandler(redis.RedisError)
def redis_unavailable(error):
    current_app.logger.warning("redis unavailable: %s", error)
    return {"error": f"job queue unavailable: {error}"}, 503, {"Retry-After": "5"}
