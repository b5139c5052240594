# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared settings for the Argo CD scripts (build.sh, up.sh, down.sh, git-server.sh, smoke.sh,
# crds.sh), and the processes' description for the process helpers of ../process.sh. Source it.

ARGOCD_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../process.sh
source "$ARGOCD_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$ARGOCD_SCRIPTS/../gobuild.sh"

# Same bin root as e2e/cluster/lib.sh.
CLUSTER_BIN_ROOT="${CLUSTER_BIN_ROOT:-$DEFAULT_BIN_ROOT}"
# Argo CD state: pid files, logs, the repo server's and Redis's working dirs, env file, the git
# server's root.
ARGOCD_DIR="${ARGOCD_DIR:-$CLUSTER_DIR/argocd}"
PID_DIR="$ARGOCD_DIR"
LOG_DIR="$ARGOCD_DIR"
ARGOCD_HOST=127.0.0.1
ARGOCD_NAMESPACE=argocd

# The wrapper module (./argocd): a main package of its own that runs upstream's application
# controller or repo server, chosen by the name it runs as (one binary, two hard links).
ARGOCD_MODULE=github.com/argoproj/argo-cd/v3
ARGOCD_MODDIR="$ARGOCD_SCRIPTS/argocd"
ARGOCD_PROCS="argocd-repo-server argocd-application-controller"
argocd_version() { module_version "$ARGOCD_MODDIR" "$ARGOCD_MODULE"; }
argocd_bin_dir() { echo "$CLUSTER_BIN_ROOT/argocd-$(argocd_version)"; }

# Ports (127.0.0.1, but for the controller's metrics, which upstream binds on every address); an
# env var of the same name overrides the default. Clear of the cluster's, KEDA's (180xx-181xx,
# 19666) and Flux's (1818x, 1819x, git server 18300).
PORT_VARS="ARGOCD_REDIS_PORT ARGOCD_REPO_SERVER_PORT ARGOCD_REPO_SERVER_METRICS_PORT ARGOCD_CONTROLLER_METRICS_PORT ARGOCD_GIT_SERVER_PORT"
default_port() {
	case "$1" in
	ARGOCD_REDIS_PORT) echo 18420 ;;               # redis-server: Argo CD's cache (mandatory)
	ARGOCD_REPO_SERVER_PORT) echo 18400 ;;         # repo server: gRPC (TLS, self-signed)
	ARGOCD_REPO_SERVER_METRICS_PORT) echo 18401 ;; # repo server: /metrics, /healthz
	ARGOCD_CONTROLLER_METRICS_PORT) echo 18410 ;;  # application controller: /metrics, /healthz
	ARGOCD_GIT_SERVER_PORT) echo 18430 ;;          # git smart HTTP (../flux/git-server.sh)
	esac
}
load_ports

# describe NAME: a process for the process helpers (see ../process.sh).
describe() {
	bin="$1" ports="" health=""
	case "$1" in
	redis) bin="$(redis_exe)" ports=$ARGOCD_REDIS_PORT health="tcp://$ARGOCD_HOST:$ARGOCD_REDIS_PORT" ;;
	argocd-repo-server) ports="$ARGOCD_REPO_SERVER_PORT $ARGOCD_REPO_SERVER_METRICS_PORT" health="http://$ARGOCD_HOST:$ARGOCD_REPO_SERVER_METRICS_PORT/healthz" ;;
	argocd-application-controller) ports=$ARGOCD_CONTROLLER_METRICS_PORT health="http://$ARGOCD_HOST:$ARGOCD_CONTROLLER_METRICS_PORT/healthz" ;;
	esac
}

# The executable redis-server runs as (Debian's is a link to redis-check-rdb), for proc_pid.
redis_exe() { basename "$(readlink -f "$(command -v redis-server || echo redis-server)")"; }

# The git server is Flux's (../flux/git-server.sh), run as a second instance: its own port, and
# its pid file, log and root under ARGOCD_DIR.
argocd_git_server() { FLUX_DIR="$ARGOCD_DIR" GIT_SERVER_PORT="$ARGOCD_GIT_SERVER_PORT" "$ARGOCD_SCRIPTS/../flux/git-server.sh" "$@"; }

# use_cluster: KUBECTL and KUBECONFIG for kc: as the environment sets them, else the local
# cluster's (e2e/cluster/up.sh).
use_cluster() {
	if [ -z "${KUBECTL:-}" ] && [ -f "$CLUSTER_DIR/env" ]; then
		KUBECTL="$(sed -n 's/^export KUBECTL="\(.*\)"$/\1/p' "$CLUSTER_DIR/env")"
	fi
	KUBECTL="${KUBECTL:-kubectl}"
	export KUBECONFIG="${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}"
}
