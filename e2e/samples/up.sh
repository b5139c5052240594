#!/usr/bin/env bash
# The Flask FaaS sample running on the local cluster's real node, with real triggers (`make run`
# calls this after starting the cluster and the operator):
#   - its image and Redis's, built from Debian's packages and pushed to the local registry;
#   - KEDA and the HTTP add-on (operator, interceptor, external scaler) as local processes;
#   - Redis in namespace `data`, the sample in NAMESPACE (default: default), images pinned by
#     digest so a rebuilt image is pulled again;
# then it calls POST /register through the master's Service and prints the answer.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../process.sh
source e2e/process.sh

NAMESPACE="${NAMESPACE:-default}"
cluster_env "make cluster-up"
[ "$CLUSTER_REAL_NODE" = 1 ] || die "the sample runs containers: start the cluster with its real node (CLUSTER_REAL_NODE=1)"
# ref@digest of what the local registry serves under a tag.
pinned() { echo "$1@$("$CLUSTER_BIN_DIR/crane" digest --insecure "$1")"; }

make -s sample-images >/dev/null
e2e/keda/up.sh operator http-add-on >/dev/null
# shellcheck disable=SC1091
source "$CLUSTER_DIR/keda/env"

# The tags the manifests name (what make sample-images pushes), pinned to what was pushed.
local_image() { echo "$CLUSTER_REGISTRY/samples/$1"; }
app_tag="$(sed -n 's|^  image: .*/flask-faas:||p' samples/flask-faas/flask-faas.yaml)"
redis_tag="$(sed -n 's|^ *image: .*/redis:||p' e2e/samples/redis.yaml)"
redis_image="$(pinned "$(local_image "redis:$redis_tag")")"
app_image="$(pinned "$(local_image "flask-faas:$app_tag")")"
sed "s|127.0.0.1:5000/samples/redis:$redis_tag|$redis_image|" e2e/samples/redis.yaml |
	kc apply --server-side -f - >/dev/null
kc -n data rollout status deployment/redis --timeout=120s >/dev/null
kc kustomize e2e/samples/flask-faas | sed "s|127.0.0.1:5000/samples/flask-faas:$app_tag|$app_image|" |
	kc apply --server-side -n "$NAMESPACE" -f -
kc wait -n "$NAMESPACE" --for condition=Ready --timeout=120s serverlessapp/flask-faas >/dev/null

ip="$(kc get -n "$NAMESPACE" service flask-faas -o jsonpath='{.spec.clusterIP}')"
echo
echo "POST /register through the master's Service ($ip:8888):"
# A new Service answers once kube-proxy has programmed it, a moment after the app is Ready.
wait_until 10 curl -fs --max-time 2 "http://$ip:8888/healthz" || true
curl -fsS --max-time 10 -X POST "http://$ip:8888/register"
echo
echo
echo "Scale a worker from zero through the KEDA HTTP add-on's interceptor:"
echo "  curl -H 'Host: faas.example.com' -H 'Content-Type: application/json' -d '{\"endpoint\": \"hello\"}' http://127.0.0.1:$KEDA_HTTP_PROXY_PORT/specialize"
echo "Queue a job (the jobs worker scales from zero on the Redis list):"
echo "  curl -H 'Content-Type: application/json' -d '{\"endpoint\": \"wordcount\", \"payload\": {\"text\": \"to be or not to be\"}}' http://$ip:8888/jobs"
