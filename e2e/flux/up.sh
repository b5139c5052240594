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
T0="$(date +%s%3N)"
elapsed() { echo "$(($(date +%s%3N) - T0))ms"; }

procs=("$@")
[ "${#procs[@]}" -gt 0 ] || read -r -a procs <<<"$FLUX_CONTROLLERS"
for p in "${procs[@]}"; do
	case " $FLUX_CONTROLLERS " in *" $p "*) ;; *) die "unknown controller '$p' (known: $FLUX_CONTROLLERS)" ;; esac
done

# --- binaries, cluster access ------------------------------------------------------------------
if [ "${FLUX_SKIP_BUILD:-0}" != 1 ]; then
	"$FLUX_SCRIPTS/build.sh" >/dev/null
fi
BIN_DIR="$(flux_bin_dir)"
for p in "${procs[@]}"; do
	[ -x "$BIN_DIR/$p" ] || die "$BIN_DIR/$p missing: run $FLUX_SCRIPTS/build.sh"
done

if [ -z "${KUBECTL:-}" ] && [ -f "$CLUSTER_DIR/env" ]; then
	KUBECTL="$(sed -n 's/^export KUBECTL="\(.*\)"$/\1/p' "$CLUSTER_DIR/env")"
fi
KUBECTL="${KUBECTL:-kubectl}"
export KUBECONFIG="${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}"
[ -f "$KUBECONFIG" ] || die "no kubeconfig at $KUBECONFIG: start the cluster (e2e/cluster/up.sh)"
kc() { "$KUBECTL" "$@"; }
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
health_port() {
	case "$1" in
	source-controller) echo "$FLUX_SOURCE_HEALTH_PORT" ;;
	kustomize-controller) echo "$FLUX_KUSTOMIZE_HEALTH_PORT" ;;
	esac
}
ports_of() {
	case "$1" in
	source-controller) echo "$FLUX_SOURCE_METRICS_PORT $FLUX_SOURCE_HEALTH_PORT $FLUX_SOURCE_STORAGE_PORT" ;;
	kustomize-controller) echo "$FLUX_KUSTOMIZE_METRICS_PORT $FLUX_KUSTOMIZE_HEALTH_PORT" ;;
	esac
}
healthy() { curl -fs --max-time 2 "http://$FLUX_HOST:$(health_port "$1")/readyz" >/dev/null 2>&1; }
wait_healthy() { wait_ready "$1" "$(flux_log_file "$1")" healthy flux_proc_pid; }
launch() { # name args...
	local name="$1"
	shift
	echo "--- $(date -Is) $BIN_DIR/$name $*" >>"$(flux_log_file "$name")"
	# setsid: own session, so the process outlives this shell and is stopped only by down.sh.
	RUNTIME_NAMESPACE="$FLUX_NAMESPACE" setsid "$BIN_DIR/$name" "$@" >>"$(flux_log_file "$name")" 2>&1 </dev/null &
	echo $! >"$(flux_pid_file "$name")"
}

# Flags common to both (github.com/fluxcd/pkg/runtime options).
common_args=(
	--enable-leader-election=false
	--watch-all-namespaces=true
	--log-level="$FLUX_LOG_LEVEL"
	--log-encoding=json
)
start_source-controller() {
	# shellcheck disable=SC2086
	launch source-controller "${common_args[@]}" \
		--metrics-addr="$FLUX_HOST:$FLUX_SOURCE_METRICS_PORT" \
		--health-addr="$FLUX_HOST:$FLUX_SOURCE_HEALTH_PORT" \
		--storage-path="$FLUX_DIR/storage" \
		--storage-addr="$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT" \
		--storage-adv-addr="$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT" \
		${FLUX_SOURCE_ARGS:-}
}
start_kustomize-controller() {
	# shellcheck disable=SC2086
	launch kustomize-controller "${common_args[@]}" \
		--metrics-addr="$FLUX_HOST:$FLUX_KUSTOMIZE_METRICS_PORT" \
		--health-addr="$FLUX_HOST:$FLUX_KUSTOMIZE_HEALTH_PORT" \
		--no-remote-bases=true \
		${FLUX_KUSTOMIZE_ARGS:-}
}

for p in $FLUX_CONTROLLERS; do
	case " ${procs[*]} " in *" $p "*) ;; *) continue ;; esac
	if flux_proc_pid "$p" >/dev/null; then
		healthy "$p" || wait_healthy "$p"
		log "$p already running (pid $(cat "$(flux_pid_file "$p")"))"
		continue
	fi
	rm -f "$(flux_pid_file "$p")"
	for port in $(ports_of "$p"); do
		port_busy "$port" && die "port $port for $p is taken by another process (override with FLUX_*_PORT env vars, see lib.sh)"
	done
	"start_$p"
	wait_healthy "$p"
	log "$p ready (pid $(cat "$(flux_pid_file "$p")"), $(elapsed))"
done

# Settings for tests: `source $CLUSTER_DIR/flux/env`.
cat >"$FLUX_DIR/env.tmp.$$" <<EOF
# source this file: settings of the Flux controllers started by e2e/flux/up.sh
export FLUX_BIN_DIR="$BIN_DIR"
export FLUX_CRDS_DIR="$BIN_DIR/crds"
export FLUX_NAMESPACE="$FLUX_NAMESPACE"
export FLUX_DIR="$FLUX_DIR"
export FLUX_STORAGE_URL="http://$FLUX_HOST:$FLUX_SOURCE_STORAGE_PORT"
export GIT_SERVER_URL="http://$FLUX_HOST:$GIT_SERVER_PORT"
$(for v in $FLUX_PORT_VARS; do echo "export $v=${!v}"; done)
EOF
mv "$FLUX_DIR/env.tmp.$$" "$FLUX_DIR/env"
log "Flux up ($(elapsed)); settings: $FLUX_DIR/env"
