# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared settings for the Flux scripts (build.sh, up.sh, down.sh, git-server.sh, smoke.sh), and
# the processes' description for the process helpers of ../process.sh. Source it.

FLUX_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../process.sh
source "$FLUX_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$FLUX_SCRIPTS/../gobuild.sh"

# Same bin root as e2e/cluster/lib.sh.
CLUSTER_BIN_ROOT="${CLUSTER_BIN_ROOT:-$DEFAULT_BIN_ROOT}"
# Flux state: pid files, logs, artifact storage, env file, git server.
FLUX_DIR="${FLUX_DIR:-$CLUSTER_DIR/flux}"
PID_DIR="$FLUX_DIR"
LOG_DIR="$FLUX_DIR"
FLUX_HOST=127.0.0.1

# Controllers, each a wrapper module in ./<name> whose main package is the upstream module root.
FLUX_CONTROLLERS="source-controller kustomize-controller"
component_module() { echo "github.com/fluxcd/$1"; }
component_version() { module_version "$FLUX_SCRIPTS/$1" "$(component_module "$1")"; }
# One bin dir for both: flux-<version> (flux-sc-<v>-kc-<v> if they ever differ).
flux_bin_dir() {
	local vs vk
	vs="$(component_version source-controller)"
	vk="$(component_version kustomize-controller)"
	if [ "$vs" = "$vk" ]; then
		echo "$CLUSTER_BIN_ROOT/flux-$vs"
	else
		echo "$CLUSTER_BIN_ROOT/flux-sc-$vs-kc-$vk"
	fi
}

# Ports (127.0.0.1 only); an env var of the same name overrides the default.
PORT_VARS="FLUX_SOURCE_METRICS_PORT FLUX_SOURCE_HEALTH_PORT FLUX_SOURCE_STORAGE_PORT FLUX_KUSTOMIZE_METRICS_PORT FLUX_KUSTOMIZE_HEALTH_PORT GIT_SERVER_PORT"
default_port() {
	case "$1" in
	FLUX_SOURCE_METRICS_PORT) echo 18180 ;;
	FLUX_SOURCE_HEALTH_PORT) echo 18181 ;;
	FLUX_SOURCE_STORAGE_PORT) echo 18182 ;; # artifact server (kustomize-controller downloads from it)
	FLUX_KUSTOMIZE_METRICS_PORT) echo 18190 ;;
	FLUX_KUSTOMIZE_HEALTH_PORT) echo 18191 ;;
	GIT_SERVER_PORT) echo 18300 ;; # git smart HTTP (git-server.sh)
	esac
}
load_ports

# describe NAME: a process for the process helpers (see ../process.sh). The git server is
# git-http-server.py; any HTTP answer from it (404 for an unknown repo) means it serves.
describe() {
	bin="$1" ports="" health=""
	case "$1" in
	source-controller) ports="$FLUX_SOURCE_METRICS_PORT $FLUX_SOURCE_HEALTH_PORT $FLUX_SOURCE_STORAGE_PORT" health="http://$FLUX_HOST:$FLUX_SOURCE_HEALTH_PORT/readyz" ;;
	kustomize-controller) ports="$FLUX_KUSTOMIZE_METRICS_PORT $FLUX_KUSTOMIZE_HEALTH_PORT" health="http://$FLUX_HOST:$FLUX_KUSTOMIZE_HEALTH_PORT/readyz" ;;
	git-server) bin=git-http-server.py ports=$GIT_SERVER_PORT health=git_server_answers ;;
	esac
}
git_server_url() { echo "http://$FLUX_HOST:$GIT_SERVER_PORT"; }
git_server_answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(git_server_url)/" 2>/dev/null)" != 000 ]; }

# use_cluster: KUBECTL and KUBECONFIG for kc: as the environment sets them, else the local
# cluster's (e2e/cluster/up.sh).
use_cluster() {
	if [ -z "${KUBECTL:-}" ] && [ -f "$CLUSTER_DIR/env" ]; then
		KUBECTL="$(sed -n 's/^export KUBECTL="\(.*\)"$/\1/p' "$CLUSTER_DIR/env")"
	fi
	KUBECTL="${KUBECTL:-kubectl}"
	export KUBECONFIG="${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}"
}
