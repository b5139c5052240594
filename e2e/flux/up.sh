#!/usr/bin/env bash
# Start Flux's source-controller and kustomize-controller as local processes against the local
# cluster (e2e/cluster/up.sh must have started it).
#
#   e2e/flux/up.sh                       # both controllers
#   e2e/flux/up.sh source-controller     # only this one
#
# Idempotent: installs/updates the Flux CRDs (server-side apply), creates namespace flux-system,
# starts the controllers that are not running, waits for their /readyz. Controllers run with the
# admin kubeconfig, leader election off, watching all namespaces, every listener on 127.0.0.1.
# Pid files, logs, artifact storage and an env file live in $CLUSTER_DIR/flux/.
#
# Env: KUBECONFIG (default $CLUSTER_DIR/kubeconfig), KUBECTL (default: from $CLUSTER_DIR/env),
# FLUX_*_PORT (see lib.sh), FLUX_SOURCE_ARGS / FLUX_KUSTOMIZE_ARGS (extra flags, word-split),
# FLUX_LOG_LEVEL (default info), FLUX_SKIP_BUILD=1, READY_TIMEOUT (default 60 s).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${READY_TIMEOUT:-60}"
FLUX_NAMESPACE=flux-system
FLUX_LOG_LEVEL="${FLUX_LOG_LEVEL:-info}"

procs=("$@")
[ "${#procs[@]}" -gt 0 ] || read -r -a procs <<<"$FLUX_CONTROLLERS"
for p in "${procs[@]}"; do
	# shellcheck disable=SC2086 # a list of names
	one_of "$p" $FLUX_CONTROLLERS || die "unknown controller '$p' (known: $FLUX_CONTROLLERS)"
done

# --- binaries, cluster access ------------------------------------------------------------------
if [ "${FLUX_SKIP_BUILD:-0}" != 1 ]; then
	"$FLUX_SCRIPTS/build.sh" >/dev/null
fi
BIN_DIR="$(flux_bin_dir)"
for p in "${procs[@]}"; do
	[ -x "$BIN_DIR/$p" ] || die "$BIN_DIR/$p missing: run $FLUX_SCRIPTS/build.sh"
done

use_cluster
[ -f "$KUBECONFIG" ] || die "no kubeconfig at $KUBECONFIG: start the cluster (e2e/cluster/up.sh)"
kc get --raw /readyz >/dev/null 2>&1 || die "the apiserver in $KUBECONFIG is not ready: start the cluster (e2e/cluster/up.sh)"

mkdir -p "$FLUX_DIR/storage"

# --- CRDs and namespace ------------------------------------------------------------------------
kc apply --server-side --force-conflicts --field-manager=serverless-e2e-flux -f "$BIN_DIR/crds/" >/dev/null
crds=()
for f in "$BIN_DIR"/crds/*.yaml; do
	crds+=("crd/$(basename "$f" .yaml | awk -F_ '{ print $2 "." $1 }')")
done
kc wait --for=condition=Established --timeout="${READY_TIMEOUT}s" "${crds[@]}" >/dev/null
kc get namespace "$FLUX_NAMESPACE" >/dev/null 2>&1 || kc create namespace "$FLUX_NAMESPACE" >/dev/null
log "Flux CRDs installed (${#crds[@]}), namespace $FLUX_NAMESPACE ($(elapsed))"

# --- processes ---------------------------------------------------------------------------------
# Flags common to both (github.com/fluxcd/pkg/runtime options).
common_args=(
	--enable-leader-election=false
	--watch-all-namespaces=true
	--log-level="$FLUX_LOG_LEVEL"
	--log-encoding=json
)
start_source-controller() {
	# shellcheck disable=SC2086
	RUNTIME_NAMESPACE="$FLUX_NAMESPACE" launch source-controller "$BIN_DIR/source-controller" "${common_args[@]}" \
		--metrics-addr="$FLUX_HOST:$FLUX_SOURCE_METRICS_PORT" \
		--health-addr="$FLUX_HOST:$FLUX_SOURCE_HEALTH_PORT" \
		--storage-path="$FLUX_DIR/storage" \
		--storage-addr="$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT" \
		--storage-adv-addr="$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT" \
		${FLUX_SOURCE_ARGS:-}
}
start_kustomize-controller() {
	# shellcheck disable=SC2086
	RUNTIME_NAMESPACE="$FLUX_NAMESPACE" launch kustomize-controller "$BIN_DIR/kustomize-controller" "${common_args[@]}" \
		--metrics-addr="$FLUX_HOST:$FLUX_KUSTOMIZE_METRICS_PORT" \
		--health-addr="$FLUX_HOST:$FLUX_KUSTOMIZE_HEALTH_PORT" \
		--no-remote-bases=true \
		${FLUX_KUSTOMIZE_ARGS:-}
}

started=()
for p in $FLUX_CONTROLLERS; do
	one_of "$p" "${procs[@]}" || continue
	start_proc "$p"
done

# Settings for tests: `source $CLUSTER_DIR/flux/env`.
write_env "$FLUX_DIR/env" "settings of the Flux controllers started by e2e/flux/up.sh" \
	FLUX_BIN_DIR="$BIN_DIR" FLUX_CRDS_DIR="$BIN_DIR/crds" FLUX_NAMESPACE="$FLUX_NAMESPACE" \
	FLUX_DIR="$FLUX_DIR" FLUX_STORAGE_URL="http://$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT" GIT_SERVER_URL="$(git_server_url)"
log "Flux up ($(elapsed); started: ${started[*]:-none}); settings: $FLUX_DIR/env"
