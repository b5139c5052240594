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
# The wait_for conditions are single-quoted on purpose: eval re-runs them on every poll.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POLLING_INTERVAL="${POLLING_INTERVAL:-5}"
COOLDOWN_PERIOD="${COOLDOWN_PERIOD:-10}"
STEP_TIMEOUT="${STEP_TIMEOUT:-120}"
NS="${NS:-keda-verify-$$}"

"$KEDA_SCRIPTS/up.sh" operator
# shellcheck disable=SC1091
source "$CLUSTER_DIR/env"
kc() { "$KUBECTL" --kubeconfig="$KUBECONFIG" "$@"; }
command -v python3 >/dev/null || die "python3 is needed for the metric server"

# --- the metric server: {"value": <contents of $state/value>} on every path ------------------
state="$(mktemp -d)"
echo 0 >"$state/value"
port=18095
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
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
until curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1; do
	kill -0 "$server_pid" 2>/dev/null || die "metric server exited: $(cat "$state/server.log")"
	sleep 0.1
done
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

now_ms() { date +%s%3N; }
replicas() { kc get deployment worker -n "$NS" -o jsonpath='{.spec.replicas}'; }
running_pods() { kc get pods -n "$NS" -l app=worker --field-selector=status.phase=Running -o name | wc -l; }
conditions() {
	kc get scaledobject worker -n "$NS" -o \
		jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}: {.message}){"\n"}{end}' | sed 's/^/    /'
}
# wait_for <description> <shell condition>; prints the elapsed ms since $t0
wait_for() {
	local what="$1" cond="$2" deadline=$((SECONDS + STEP_TIMEOUT))
	until eval "$cond"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out after ${STEP_TIMEOUT}s waiting for $what"
		sleep 0.2
	done
	echo $(($(now_ms) - t0))
}

t0=$(now_ms)
wait_for "2 pods Running" '[ "$(running_pods)" -ge 2 ]' >/dev/null
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

echo "== step 1: value 0, ScaledObject created on a 2-replica Deployment"
t0=$(now_ms)
ms=$(wait_for "replicas 0" '[ "$(replicas)" = 0 ]')
echo "  replicas 2 -> 0 after ${ms}ms"
ms=$(wait_for "no Running pods" '[ "$(running_pods)" = 0 ]')
echo "  pods gone after ${ms}ms"
wait_for "Ready condition" '[ -n "$(kc get scaledobject worker -n "$NS" -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" ]' >/dev/null
sleep "$POLLING_INTERVAL"
echo "  ScaledObject conditions (one pollingInterval later):"
conditions

echo "== step 2: value 5 (active)"
set_value 5
t0=$(now_ms)
ms=$(wait_for "replicas >= 1" '[ "$(replicas)" -ge 1 ]')
echo "  replicas 0 -> $(replicas) after ${ms}ms (pollingInterval ${POLLING_INTERVAL}s)"
ms=$(wait_for "a Running pod" '[ "$(running_pods)" -ge 1 ]')
echo "  $(running_pods) pod(s) Running after ${ms}ms"
ms=$(wait_for "Active=True" '[ "$(kc get scaledobject worker -n "$NS" -o jsonpath="{.status.conditions[?(@.type==\"Active\")].status}")" = True ]')
echo "  Active=True after ${ms}ms"
sleep "$POLLING_INTERVAL"
echo "  ScaledObject conditions:"
conditions
echo "  HPA: $(kc get hpa -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} min={.spec.minReplicas} max={.spec.maxReplicas} current={.status.currentReplicas} desired={.status.desiredReplicas}{end}')"

echo "== step 3: value 0 (inactive)"
set_value 0
t0=$(now_ms)
ms=$(wait_for "Active=False" '[ "$(kc get scaledobject worker -n "$NS" -o jsonpath="{.status.conditions[?(@.type==\"Active\")].status}")" = False ]')
echo "  Active=False after ${ms}ms"
ms=$(wait_for "replicas 0" '[ "$(replicas)" = 0 ]')
echo "  replicas -> 0 after ${ms}ms (cooldownPeriod ${COOLDOWN_PERIOD}s + pollingInterval ${POLLING_INTERVAL}s)"
ms=$(wait_for "no Running pods" '[ "$(running_pods)" = 0 ]')
echo "  pods gone after ${ms}ms"
echo "  ScaledObject conditions:"
conditions
echo "  lastActiveTime: $(kc get scaledobject worker -n "$NS" -o jsonpath='{.status.lastActiveTime}')"
echo "PASS: scaled to zero and back"
