# shellcheck shell=bash
# Shared settings for e2e/keda/{up,down}.sh. Source it; do not run it.

KEDA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KEDA_REPO_ROOT="$(cd "$KEDA_SCRIPTS/../.." && pwd)"
# The local cluster's state dir (e2e/cluster/up.sh); KEDA's state lives in $CLUSTER_DIR/keda.
CLUSTER_DIR="${CLUSTER_DIR:-$KEDA_REPO_ROOT/.cache/cluster}"
KEDA_DIR="$CLUSTER_DIR/keda"
# shellcheck disable=SC2034 # used by the scripts that source this file
KEDA_HOST=127.0.0.1

# Ports (all listeners bind 127.0.0.1). Defaults are not upstream's (8080, 8081, 9666), which
# other local controllers also use. Explicit env > $KEDA_DIR/ports.env > default (moved past
# busy ports on first start).
KEDA_PORT_VARS="KEDA_METRICS_PORT KEDA_PROBE_PORT KEDA_GRPC_PORT KEDA_HTTP_ADDON_METRICS_PORT KEDA_HTTP_ADDON_PROBE_PORT
KEDA_HTTP_PROXY_PORT KEDA_HTTP_INTERCEPTOR_ADMIN_PORT KEDA_HTTP_INTERCEPTOR_METRICS_PORT KEDA_HTTP_SCALER_PORT"
keda_default_port() {
	case "$1" in
	KEDA_METRICS_PORT) echo 18080 ;;            # operator: Prometheus metrics
	KEDA_PROBE_PORT) echo 18081 ;;              # operator: /healthz, /readyz
	KEDA_GRPC_PORT) echo 19666 ;;               # operator: gRPC metrics service (mTLS)
	KEDA_HTTP_ADDON_METRICS_PORT) echo 18090 ;; # http-add-on operator: metrics
	KEDA_HTTP_ADDON_PROBE_PORT) echo 18091 ;;   # http-add-on operator: /healthz, /readyz
	# The interceptor and the scaler bind every address (upstream hard-codes 0.0.0.0): the
	# scaler reaches the interceptor, and KEDA the scaler, at the node's address.
	KEDA_HTTP_PROXY_PORT) echo 18100 ;;               # interceptor: the proxy requests go through
	KEDA_HTTP_INTERCEPTOR_ADMIN_PORT) echo 18101 ;;   # interceptor: pending-request counts
	KEDA_HTTP_INTERCEPTOR_METRICS_PORT) echo 18102 ;; # interceptor: Prometheus metrics
	KEDA_HTTP_SCALER_PORT) echo 18110 ;;              # external scaler: gRPC, for KEDA
	esac
}
keda_load_ports() {
	local v val
	for v in $KEDA_PORT_VARS; do
		val="${!v:-}"
		if [ -z "$val" ] && [ -f "$KEDA_DIR/ports.env" ]; then
			val="$(sed -n "s/^$v=//p" "$KEDA_DIR/ports.env")"
		fi
		printf -v "$v" '%s' "${val:-$(keda_default_port "$v")}"
	done
}

# Processes: name = binary name (from build.sh); build component.
# shellcheck disable=SC2034
KEDA_PROCS="keda-operator keda-http-add-on-operator keda-http-add-on-interceptor keda-http-add-on-scaler"
# The processes a component name stands for. The HTTP add-on is its operator, plus (with the
# real node, whose cluster DNS and Service network they need) the interceptor requests go
# through and the external scaler KEDA asks.
keda_procs_of() {
	case "$1" in
	operator | keda | keda-operator) echo keda-operator ;;
	http-add-on)
		if [ "${CLUSTER_REAL_NODE:-0}" = 1 ]; then
			echo keda-http-add-on-operator keda-http-add-on-interceptor keda-http-add-on-scaler
		else
			echo keda-http-add-on-operator
		fi
		;;
	keda-http-add-on-*) echo "$1" ;;
	*) return 1 ;;
	esac
}
# keda_procs_from_args NAME...: set `procs` to the processes the component names stand for;
# dies on an unknown name.
keda_procs_from_args() {
	local a ps more
	procs=()
	for a in "$@"; do
		ps="$(keda_procs_of "$a")" || die "unknown component '$a' (known: operator http-add-on)"
		read -r -a more <<<"$ps"
		procs+=("${more[@]}")
	done
}
keda_component() {
	case "$1" in
	keda-operator) echo operator ;;
	keda-http-add-on-*) echo http-add-on ;;
	esac
}
keda_pid_file() { echo "$KEDA_DIR/$1.pid"; }
keda_log_file() { echo "$KEDA_DIR/$1.log"; }
# Pid of a running process started by up.sh, or nothing (and status 1).
keda_proc_pid() {
	local pid exe
	pid="$(cat "$(keda_pid_file "$1")" 2>/dev/null)" || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: the process must run our binary.
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[ "$(basename "${exe% (deleted)}")" = "$1" ] || return 1
	echo "$pid"
}

# shellcheck source=../process.sh
source "$KEDA_SCRIPTS/../process.sh"
