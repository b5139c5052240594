# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared settings for build.sh, up.sh and down.sh, and the components' description for the
# process helpers of ../process.sh. Source it; do not run it.

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../process.sh
source "$CLUSTER_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$CLUSTER_SCRIPTS/../gobuild.sh"

# Built binaries: one directory per component and version.
CLUSTER_BIN_ROOT="${CLUSTER_BIN_ROOT:-$DEFAULT_BIN_ROOT}"
# Runtime state (pki, etcd data, logs, pid files, kubeconfig, audit log): CLUSTER_DIR.
PID_DIR="$CLUSTER_DIR/run"
LOG_DIR="$CLUSTER_DIR/logs"

# Ports (all listeners bind 127.0.0.1 only). Defaults; an env var of the same name overrides.
# up.sh records the ports in use in $CLUSTER_DIR/ports.env on first start and reuses them.
CLUSTER_HOST=127.0.0.1
PORTS_FILE="$CLUSTER_DIR/ports.env"
PORT_VARS="CLUSTER_ETCD_PORT CLUSTER_ETCD_PEER_PORT CLUSTER_APISERVER_PORT CLUSTER_KCM_PORT CLUSTER_SCHEDULER_PORT CLUSTER_KWOK_PORT
	CLUSTER_REGISTRY_PORT CLUSTER_KUBELET_PORT CLUSTER_KUBELET_HEALTHZ_PORT CLUSTER_KUBE_PROXY_PORT CLUSTER_KUBE_PROXY_METRICS_PORT CLUSTER_COREDNS_HEALTH_PORT CLUSTER_COREDNS_READY_PORT"
default_port() {
	case "$1" in
	CLUSTER_ETCD_PORT) echo 23790 ;;
	CLUSTER_ETCD_PEER_PORT) echo 23800 ;;
	CLUSTER_APISERVER_PORT) echo 6443 ;;
	CLUSTER_KCM_PORT) echo 10357 ;;       # kube-controller-manager secure port (healthz/metrics)
	CLUSTER_SCHEDULER_PORT) echo 10359 ;; # kube-scheduler secure port
	CLUSTER_KWOK_PORT) echo 10347 ;;      # kwok controller server (healthz/metrics)
	CLUSTER_REGISTRY_PORT) echo 5000 ;;   # OCI registry (plain http) the real node pulls from
	CLUSTER_KUBELET_PORT) echo 10250 ;;   # kubelet API, on the node's bridge address
	CLUSTER_KUBELET_HEALTHZ_PORT) echo 10248 ;;
	CLUSTER_KUBE_PROXY_PORT) echo 10256 ;; # kube-proxy healthz
	CLUSTER_KUBE_PROXY_METRICS_PORT) echo 10249 ;;
	CLUSTER_COREDNS_HEALTH_PORT) echo 10280 ;;
	CLUSTER_COREDNS_READY_PORT) echo 10281 ;;
	esac
}

# Components built by build.sh, each from its wrapper module <dir>/ here. The control plane:
# etcd kwok kubernetes (kubelet and kube-proxy come from the same module). The real node:
# containerd runc cni-plugins coredns pause, and crane (the loopback registry and image tool).
cluster_components() {
	local c="etcd kwok kubernetes"
	[ "$CLUSTER_REAL_NODE" != 1 ] || c+=" containerd runc cni-plugins crane coredns pause"
	echo "$c"
}
component_module() {
	case "$1" in
	kubernetes | pause) echo k8s.io/kubernetes ;;
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kwok) echo sigs.k8s.io/kwok ;;
	containerd) echo github.com/containerd/containerd/v2 ;;
	runc) echo github.com/opencontainers/runc ;;
	cni-plugins) echo github.com/containernetworking/plugins ;;
	crane) echo github.com/google/go-containerregistry ;;
	coredns) echo github.com/coredns/coredns ;;
	*) return 1 ;;
	esac
}
# Wrapper module directory: pause is a C file inside the Kubernetes module.
component_dir() {
	case "$1" in
	pause) echo kubernetes ;;
	*) echo "$1" ;;
	esac
}
component_binaries() {
	case "$1" in
	kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy ;;
	etcd) echo etcd ;;
	kwok) echo kwok kwokctl ;;
	containerd) echo containerd containerd-shim-runc-v2 ctr ;;
	runc) echo runc ;;
	cni-plugins) echo bridge host-local loopback portmap ;;
	crane) echo crane ;;
	coredns) echo coredns ;;
	pause) echo pause ;;
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
	kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy ;;
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kwok) echo sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl ;;
	containerd) echo github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr ;;
	runc) echo github.com/opencontainers/runc ;;
	cni-plugins) echo github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/meta/portmap ;;
	crane) echo github.com/google/go-containerregistry/cmd/crane ;;
	coredns) echo . ;; # main.go here: CoreDNS with the plugins the cluster uses
	pause) echo build/pause/linux/pause.c ;;
	*) return 1 ;;
	esac
}
# Build tags, as upstream's Makefiles set them (runc without libpathrs, a Rust library).
component_tags() {
	case "$1" in
	containerd) echo no_btrfs no_devmapper no_zfs ;;
	runc) echo seccomp urfave_cli_no_docs ;;
	*) echo ;;
	esac
}
# runc links libseccomp through cgo (without it the pause container fails: "seccomp not
# supported"); every other Go component is pure Go.
component_cgo() { [ "$1" = runc ] && echo 1 || echo 0; }
# Version of the upstream module, read from the wrapper's go.mod (no network).
component_version() {
	local mod
	mod="$(component_module "$1")" || return 1
	module_version "$CLUSTER_SCRIPTS/$(component_dir "$1")" "$mod"
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

# --- processes -------------------------------------------------------------------------
# Component names up.sh/down.sh accept, in start order: the control plane, kwok, then the
# real node (node.sh), which CLUSTER_REAL_NODE=0 leaves out.
CONTROL_PLANE_PROCS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"
# shellcheck source=node.sh
source "$CLUSTER_SCRIPTS/node.sh"
if [ "$CLUSTER_REAL_NODE" = 1 ]; then
	CLUSTER_PROCS="$CONTROL_PLANE_PROCS $NODE_PROCS"
else
	CLUSTER_PROCS="$CONTROL_PLANE_PROCS"
fi
canonical_proc() {
	# shellcheck disable=SC2086 # a list of names
	one_of "$1" $NODE_PROCS && {
		echo "$1"
		return 0
	}
	case "$1" in
	etcd) echo etcd ;;
	kube-apiserver | apiserver) echo kube-apiserver ;;
	kube-controller-manager | controller-manager | kcm) echo kube-controller-manager ;;
	kube-scheduler | scheduler) echo kube-scheduler ;;
	kwok | kwok-controller) echo kwok ;;
	*) return 1 ;;
	esac
}
# describe NAME: a component for the process helpers (see ../process.sh).
describe() {
	bin="$1" ports="" health=""
	case "$1" in
	etcd) ports=$CLUSTER_ETCD_PORT health="http://$CLUSTER_HOST:$CLUSTER_ETCD_PORT/health" ;;
	kube-apiserver) ports=$CLUSTER_APISERVER_PORT health="https://$CLUSTER_HOST:$CLUSTER_APISERVER_PORT/readyz" ;;
	kube-controller-manager) ports=$CLUSTER_KCM_PORT health="https://$CLUSTER_HOST:$CLUSTER_KCM_PORT/healthz" ;;
	kube-scheduler) ports=$CLUSTER_SCHEDULER_PORT health="https://$CLUSTER_HOST:$CLUSTER_SCHEDULER_PORT/healthz" ;;
	kwok) ports=$CLUSTER_KWOK_PORT health="http://$CLUSTER_HOST:$CLUSTER_KWOK_PORT/healthz" ;;
	# The real node (node.sh).
	registry) bin=crane ports=$CLUSTER_REGISTRY_PORT health="http://$(registry_addr)/v2/" ;;
	containerd) health=containerd_answers ;;
	kubelet) ports=$CLUSTER_KUBELET_HEALTHZ_PORT health="http://$CLUSTER_HOST:$CLUSTER_KUBELET_HEALTHZ_PORT/healthz" ;;
	kube-proxy) ports=$CLUSTER_KUBE_PROXY_PORT health="http://$CLUSTER_HOST:$CLUSTER_KUBE_PROXY_PORT/livez" ;;
	coredns) ports=$CLUSTER_COREDNS_READY_PORT health="http://$CLUSTER_HOST:$CLUSTER_COREDNS_READY_PORT/ready" ;;
	# Through the relay, to the API server: what pods reach behind the kubernetes Service.
	apiserver-relay) bin=socat health="https://$NODE_IP:$CLUSTER_APISERVER_PORT/readyz" ;;
	esac
}
