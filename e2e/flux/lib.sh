# shellcheck shell=bash
# Shared settings for the Flux scripts (build.sh, up.sh, down.sh, git-server.sh). Source it.
# Same defaults as e2e/cluster/lib.sh for the bin root and the state dir.

FLUX_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$FLUX_SCRIPTS/../.." && pwd)"

CLUSTER_BIN_ROOT="${CLUSTER_BIN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin}"
CLUSTER_DIR="${CLUSTER_DIR:-$REPO_ROOT/.cache/cluster}"
# Flux state: pid files, logs, artifact storage, env file, git server.
FLUX_DIR="${FLUX_DIR:-$CLUSTER_DIR/flux}"
FLUX_HOST=127.0.0.1

# Controllers, each a wrapper module in ./<name> whose main package is the upstream module root.
# shellcheck disable=SC2034 # used by the scripts that source this file
FLUX_CONTROLLERS="source-controller kustomize-controller"
flux_module() { echo "github.com/fluxcd/$1"; }
# Upstream version, read from the wrapper's go.mod (no network).
flux_controller_version() {
	local mod
	mod="$(flux_module "$1")"
	awk -v m="$mod" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' \
		"$FLUX_SCRIPTS/$1/go.mod"
}
# One bin dir for both: flux-<version> (flux-sc-<v>-kc-<v> if they ever differ).
flux_bin_dir() {
	local vs vk
	vs="$(flux_controller_version source-controller)"
	vk="$(flux_controller_version kustomize-controller)"
	if [ "$vs" = "$vk" ]; then
		echo "$CLUSTER_BIN_ROOT/flux-$vs"
	else
		echo "$CLUSTER_BIN_ROOT/flux-sc-$vs-kc-$vk"
	fi
}

# Ports (127.0.0.1 only); an env var of the same name overrides the default.
FLUX_PORT_VARS="FLUX_SOURCE_METRICS_PORT FLUX_SOURCE_HEALTH_PORT FLUX_SOURCE_STORAGE_PORT FLUX_KUSTOMIZE_METRICS_PORT FLUX_KUSTOMIZE_HEALTH_PORT GIT_SERVER_PORT"
flux_default_port() {
	case "$1" in
	FLUX_SOURCE_METRICS_PORT) echo 18180 ;;
	FLUX_SOURCE_HEALTH_PORT) echo 18181 ;;
	FLUX_SOURCE_STORAGE_PORT) echo 18182 ;; # artifact server (kustomize-controller downloads from it)
	FLUX_KUSTOMIZE_METRICS_PORT) echo 18190 ;;
	FLUX_KUSTOMIZE_HEALTH_PORT) echo 18191 ;;
	GIT_SERVER_PORT) echo 18300 ;; # git smart HTTP (git-server.sh)
	esac
}
flux_load_ports() {
	local v
	for v in $FLUX_PORT_VARS; do
		[ -n "${!v:-}" ] || printf -v "$v" '%s' "$(flux_default_port "$v")"
	done
}
flux_load_ports

flux_pid_file() { echo "$FLUX_DIR/$1.pid"; }
flux_log_file() { echo "$FLUX_DIR/$1.log"; }
# Pid of a running process started by these scripts, or nothing (and status 1). Guards against
# a recycled pid: the process's command line must still name what was started.
flux_proc_pid() {
	local pid
	pid="$(cat "$(flux_pid_file "$1")" 2>/dev/null)" || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(flux_proc_marker "$1")" || return 1
	echo "$pid"
}
flux_proc_marker() {
	case "$1" in
	git-server) echo "git-http-server.py" ;;
	*) echo "/$1 " ;;
	esac
}
port_busy() { (exec 3<>"/dev/tcp/$FLUX_HOST/$1") 2>/dev/null; }

# Stop one process by pid file: SIGTERM, SIGKILL after STOP_TIMEOUT seconds (default 5).
flux_stop() {
	local name="$1" pid deadline
	if ! pid="$(flux_proc_pid "$name")"; then
		rm -f "$(flux_pid_file "$name")"
		return 0
	fi
	stop_process "$name" "$pid" "$(flux_pid_file "$name")"
}

# shellcheck source=../process.sh
source "$FLUX_SCRIPTS/../process.sh"
