#!/usr/bin/env bash
# Prove scale to zero and back with the real KEDA operator (e2e/keda/up.sh) on the local cluster.
#
#   e2e/keda/verify.sh
#
# In a fresh namespace: a Deployment (kwok runs its pods), a tiny HTTP server on 127.0.0.1
# serving {"value": N}, and a ScaledObject (min 0, max 3, pollingInterval 5, cooldownPeriod 10)
# with a metrics-api trigger on it (activationTargetValue 0: value 0 = inactive, 5 = active).
# Steps, each timed from the moment the value changes:
#   1. value 0, Deployment created at 2 replicas -> 0 (never active: no cooldown to wait)
#   2. value 5 -> >= 1 replica, pods Running
#   3. value 0 -> 0 replicas (after cooldownPeriod)
# Prints the ScaledObject's Ready/Active conditions in each state. The namespace and the HTTP
# server are removed at the end (KEEP=1 keeps them). KEDA itself is left running.
# The conditions waited for are single-quoted on purpose: eval re-runs them on every poll.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POLLING_INTERVAL="${POLLING_INTERVAL:-5}"
COOLDOWN_PERIOD="${COOLDOWN_PERIOD:-10}"
STEP_TIMEOUT="${STEP_TIMEOUT:-120}"
NS="${NS:-keda-verify-$$}"

"$KEDA_SCRIPTS/up.sh" operator
cluster_env e2e/cluster/up.sh
command -v python3 >/dev/null || die "python3 is needed for the metric server"

# --- the metric server: {"value": <contents of $state/value>} on every path ------------------
state="$(mktemp -d)"
echo 0 >"$state/value"
port="$(free_port 18095)"
python3 - "$port" "$state/value" >"$state/server.log" 2>&1 <<'EOF' &
import http.server, json, sys
port, path = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(path) as f:
            body = json.dumps({"value": int(f.read().strip())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
server_pid=$!
cleanup() {
	kill "$server_pid" 2>/dev/null || true
	if [ "${KEEP:-0}" != 1 ]; then
		kc delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
		rm -rf "$state"
	else
		log "KEEP=1: namespace $NS and metric server state $state kept (server stopped)"
	fi
}
trap cleanup EXIT
wait_until 10 curl -fs "http://127.0.0.1:$port/" || die "metric server not answering: $(cat "$state/server.log")"
set_value() { echo "$1" >"$state/value.tmp" && mv "$state/value.tmp" "$state/value"; }
log "metric server on 127.0.0.1:$port (pid $server_pid): $(curl -fs "http://127.0.0.1:$port/")"

# --- objects ---------------------------------------------------------------------------------
kc create namespace "$NS" >/dev/null
kc apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 2
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - name: worker
        image: registry.example/worker:1
EOF

replicas() { kc get deployment worker -n "$NS" -o jsonpath='{.spec.replicas}'; }
running_pods() { kc get pods -n "$NS" -l app=worker --field-selector=status.phase=Running -o name | wc -l; }
# condition TYPE: the status of the ScaledObject's condition TYPE.
condition() { kc get scaledobject worker -n "$NS" -o jsonpath="{.status.conditions[?(@.type==\"$1\")].status}"; }
# conditions [WHEN]: the ScaledObject's conditions.
conditions() {
	echo "  ScaledObject conditions${1:+ $1}:"
	kc get scaledobject worker -n "$NS" -o \
		jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}: {.message}){"\n"}{end}' | sed 's/^/    /'
}
# step N TITLE VALUE: begin step N: the metric server answers VALUE from now on.
step() {
	echo "== step $1: $2"
	set_value "$3"
	t0="$(now_ms)"
}
# wait_for WHAT CONDITION: wait up to STEP_TIMEOUT for CONDITION (a shell test, run with eval).
wait_for() { wait_until "$STEP_TIMEOUT" eval "$2" || die "timed out after ${STEP_TIMEOUT}s waiting for $1"; }
# timed WHAT CONDITION [NOTE]: wait_for, then say how long after the step began CONDITION held.
timed() {
	wait_for "$1" "$2"
	echo "  $1 after $(since "$t0")${3:+ $3}"
}

wait_for "2 pods Running" '[ "$(running_pods)" -ge 2 ]'
log "deployment worker: 2 pods Running"

kc apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker
spec:
  scaleTargetRef:
    name: worker
  minReplicaCount: 0
  maxReplicaCount: 3
  pollingInterval: $POLLING_INTERVAL
  cooldownPeriod: $COOLDOWN_PERIOD
  triggers:
  - type: metrics-api
    metadata:
      url: "http://127.0.0.1:$port/"
      valueLocation: value
      targetValue: "1"
      activationTargetValue: "0"
EOF

step 1 "value 0, ScaledObject created on a 2-replica Deployment" 0
timed "replicas 2 -> 0" '[ "$(replicas)" = 0 ]'
timed "pods gone" '[ "$(running_pods)" = 0 ]'
wait_for "the Ready condition" '[ -n "$(condition Ready)" ]'
sleep "$POLLING_INTERVAL"
conditions "(one pollingInterval later)"

step 2 "value 5 (active)" 5
timed "replicas 0 -> 1 or more" '[ "$(replicas)" -ge 1 ]' "(pollingInterval ${POLLING_INTERVAL}s)"
timed "a pod Running" '[ "$(running_pods)" -ge 1 ]'
timed "Active=True" '[ "$(condition Active)" = True ]'
sleep "$POLLING_INTERVAL"
conditions
echo "  HPA: $(kc get hpa -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} min={.spec.minReplicas} max={.spec.maxReplicas} current={.status.currentReplicas} desired={.status.desiredReplicas}{end}')"

step 3 "value 0 (inactive)" 0
timed "Active=False" '[ "$(condition Active)" = False ]'
timed "replicas -> 0" '[ "$(replicas)" = 0 ]' "(cooldownPeriod ${COOLDOWN_PERIOD}s + pollingInterval ${POLLING_INTERVAL}s)"
timed "pods gone" '[ "$(running_pods)" = 0 ]'
conditions
echo "  lastActiveTime: $(kc get scaledobject worker -n "$NS" -o jsonpath='{.status.lastActiveTime}')"
echo "PASS: scaled to zero and back"
