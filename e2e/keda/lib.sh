# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared settings for the KEDA scripts, and the processes' description for the process helpers of
# ../process.sh. Source it; do not run it.

KEDA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../process.sh
source "$KEDA_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$KEDA_SCRIPTS/../gobuild.sh"

KEDA_BIN_ROOT="${KEDA_BIN_ROOT:-$DEFAULT_BIN_ROOT}"
# KEDA's state (pid files, logs, certs, ports.env, env) lives in the local cluster's state dir.
KEDA_DIR="$CLUSTER_DIR/keda"
PID_DIR="$KEDA_DIR"
LOG_DIR="$KEDA_DIR"
KEDA_HOST=127.0.0.1

# Ports (all listeners bind 127.0.0.1). Defaults are not upstream's (8080, 8081, 9666), which
# other local controllers also use. Explicit env > $KEDA_DIR/ports.env > default (moved past
# busy ports on first start).
PORTS_FILE="$KEDA_DIR/ports.env"
PORT_VARS="KEDA_METRICS_PORT KEDA_PROBE_PORT KEDA_GRPC_PORT KEDA_HTTP_ADDON_METRICS_PORT KEDA_HTTP_ADDON_PROBE_PORT
KEDA_HTTP_PROXY_PORT KEDA_HTTP_INTERCEPTOR_ADMIN_PORT KEDA_HTTP_INTERCEPTOR_METRICS_PORT KEDA_HTTP_SCALER_PORT"
default_port() {
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
# Processes: name = binary name (from build.sh); build component.
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
# describe NAME: a process for the process helpers (see ../process.sh). The interceptor answers
# its admin API once its caches run; the scaler's health is gRPC, so an open port it is.
describe() {
	bin="$1" ports="" health=""
	case "$1" in
	keda-operator) ports="$KEDA_METRICS_PORT $KEDA_PROBE_PORT $KEDA_GRPC_PORT" health="http://$KEDA_HOST:$KEDA_PROBE_PORT/readyz" ;;
	keda-http-add-on-operator) ports="$KEDA_HTTP_ADDON_METRICS_PORT $KEDA_HTTP_ADDON_PROBE_PORT" health="http://$KEDA_HOST:$KEDA_HTTP_ADDON_PROBE_PORT/readyz" ;;
	keda-http-add-on-interceptor) ports="$KEDA_HTTP_PROXY_PORT $KEDA_HTTP_INTERCEPTOR_ADMIN_PORT $KEDA_HTTP_INTERCEPTOR_METRICS_PORT" health="http://$KEDA_HOST:$KEDA_HTTP_INTERCEPTOR_ADMIN_PORT/queue" ;;
	keda-http-add-on-scaler) ports=$KEDA_HTTP_SCALER_PORT health="tcp://$KEDA_HOST:$KEDA_HTTP_SCALER_PORT" ;;
	esac
}
