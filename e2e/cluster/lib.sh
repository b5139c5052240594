# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared settings for build.sh, up.sh and down.sh. Source it; do not run it.

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"

# Built binaries: one directory per component and version.
CLUSTER_BIN_ROOT="${CLUSTER_BIN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin}"
# Runtime state (pki, etcd data, logs, pid files, kubeconfig, audit log).
CLUSTER_DIR="${CLUSTER_DIR:-$REPO_ROOT/.cache/cluster}"

# Ports (all listeners bind 127.0.0.1 only). Defaults; an env var of the same name overrides.
# up.sh records the ports in use in $CLUSTER_DIR/ports.env on first start and reuses them.
CLUSTER_HOST=127.0.0.1
CLUSTER_PORT_VARS="CLUSTER_ETCD_PORT CLUSTER_ETCD_PEER_PORT CLUSTER_APISERVER_PORT CLUSTER_KCM_PORT CLUSTER_SCHEDULER_PORT CLUSTER_KWOK_PORT"
default_port() {
	case "$1" in
	CLUSTER_ETCD_PORT) echo 23790 ;;
	CLUSTER_ETCD_PEER_PORT) echo 23800 ;;
	CLUSTER_APISERVER_PORT) echo 6443 ;;
	CLUSTER_KCM_PORT) echo 10357 ;;       # kube-controller-manager secure port (healthz/metrics)
	CLUSTER_SCHEDULER_PORT) echo 10359 ;; # kube-scheduler secure port
	CLUSTER_KWOK_PORT) echo 10347 ;;      # kwok controller server (healthz/metrics)
	esac
}
# Set every *_PORT: explicit env > $CLUSTER_DIR/ports.env > default.
load_ports() {
	local v val
	for v in $CLUSTER_PORT_VARS; do
		val="${!v:-}"
		if [ -z "$val" ] && [ -f "$CLUSTER_DIR/ports.env" ]; then
			val="$(sed -n "s/^$v=//p" "$CLUSTER_DIR/ports.env")"
		fi
		printf -v "$v" '%s' "${val:-$(default_port "$v")}"
	done
}

# Components built by build.sh: <component> <module dir> <upstream module> <binaries...>
cluster_components() { echo etcd kwok kubernetes; }
component_module() {
	case "$1" in
	kubernetes) echo k8s.io/kubernetes ;;
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kwok) echo sigs.k8s.io/kwok ;;
	*) return 1 ;;
	esac
}
component_binaries() {
	case "$1" in
	kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
	etcd) echo etcd ;;
	kwok) echo kwok kwokctl ;;
	*) return 1 ;;
	esac
}
# Data files build.sh writes next to the binaries.
component_files() {
	case "$1" in
	kwok) echo stages.yaml ;;
	*) echo ;;
	esac
}
component_packages() {
	case "$1" in
	kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kwok) echo sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl ;;
	*) return 1 ;;
	esac
}
# Version of the upstream module, read from the wrapper's go.mod (no network).
component_version() {
	local mod
	mod="$(component_module "$1")" || return 1
	awk -v m="$mod" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' \
		"$CLUSTER_SCRIPTS/$1/go.mod"
}
component_bin_dir() { echo "$CLUSTER_BIN_ROOT/$1-$(component_version "$1")"; }

# Path of one binary, e.g. `cluster_bin kube-apiserver`.
cluster_bin() {
	local c b
	for c in $(cluster_components); do
		for b in $(component_binaries "$c"); do
			if [ "$b" = "$1" ]; then
				echo "$(component_bin_dir "$c")/$b"
				return 0
			fi
		done
	done
	return 1
}

# shellcheck source=../process.sh
source "$CLUSTER_SCRIPTS/../process.sh"

# --- processes -------------------------------------------------------------------------
# Component names up.sh/down.sh accept, in start order.
CLUSTER_PROCS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"
canonical_proc() {
	case "$1" in
	etcd) echo etcd ;;
	kube-apiserver | apiserver) echo kube-apiserver ;;
	kube-controller-manager | controller-manager | kcm) echo kube-controller-manager ;;
	kube-scheduler | scheduler) echo kube-scheduler ;;
	kwok | kwok-controller) echo kwok ;;
	*) return 1 ;;
	esac
}
pid_file() { echo "$CLUSTER_DIR/run/$1.pid"; }
log_file() { echo "$CLUSTER_DIR/logs/$1.log"; }
# Pid of a running component started by up.sh, or nothing (and status 1).
proc_pid() {
	local pid exe
	pid="$(cat "$(pid_file "$1")" 2>/dev/null)" || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: the process must run the component's binary.
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[ "$(basename "${exe% (deleted)}")" = "$1" ] || return 1
	echo "$pid"
}
