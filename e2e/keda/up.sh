#!/usr/bin/env bash
# Run the real KEDA operator (and, on request, the HTTP add-on: its operator, and with the real
# node its interceptor and external scaler) as local processes against the local cluster of
# e2e/cluster/up.sh, which must be running.
#
#   e2e/keda/up.sh                         # KEDA operator only
#   e2e/keda/up.sh operator http-add-on    # both
#
# Idempotent: installs/updates KEDA's CRDs (server-side apply, from crds.sh), creates the `keda`
# namespace, makes the gRPC TLS files once, starts what is not running and waits for each
# process's /readyz. State (pid files, logs, certs, ports.env, env) lives in $CLUSTER_DIR/keda.
# Binaries come from build.sh (run automatically; instant when already built).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${READY_TIMEOUT:-60}"
# Extra flags, word-split: KEDA_OPERATOR_ARGS, KEDA_HTTP_ADDON_ARGS, KEDA_HTTP_INTERCEPTOR_ARGS,
# KEDA_HTTP_SCALER_ARGS.

# --- the cluster -----------------------------------------------------------------------------
cluster_env e2e/cluster/up.sh
kc get --raw /readyz >/dev/null 2>&1 || die "the cluster at $APISERVER_URL is not ready: start it with e2e/cluster/up.sh"

keda_procs_from_args "$@"
[ "${#procs[@]}" -gt 0 ] || procs=(keda-operator)

# --- binaries --------------------------------------------------------------------------------
declare -A BIN BUILT
for p in "${procs[@]}"; do
	c="$(keda_component "$p")"
	[ -n "${BUILT[$c]:-}" ] || BUILT[$c]="$("$KEDA_SCRIPTS/build.sh" "$c")"
	BIN[$p]="$(grep "/$p\$" <<<"${BUILT[$c]}")"
	[ -x "${BIN[$p]}" ] || die "$p binary missing: run $KEDA_SCRIPTS/build.sh $c"
done

mkdir -p "$KEDA_DIR"
choose_ports

# --- CRDs and namespace ----------------------------------------------------------------------
crd_dir="$("$KEDA_SCRIPTS/crds.sh")"
# crds.sh copies keda.sh_*.yaml and http.keda.sh_*.yaml only; the operator also watches
# eventing.keda.sh (CloudEventSource, ClusterCloudEventSource) and exits after its 2-minute cache
# sync timeout when those CRDs are missing. Take them from the same module (its version is the
# one pinned by ./operator/go.mod, already in the module cache after build.sh).
keda_mod_dir="$(wrapped_module_dir "$KEDA_SCRIPTS/operator" github.com/kedacore/keda/v2)"
if [ -z "$keda_mod_dir" ] || [ ! -d "$keda_mod_dir/config/crd/bases" ]; then
	die "KEDA module not found: run $KEDA_SCRIPTS/build.sh"
fi
crd_files=("$crd_dir"/*.yaml "$keda_mod_dir"/config/crd/bases/eventing.keda.sh_*.yaml)
crd_args=()
for f in "${crd_files[@]}"; do crd_args+=(-f "$f"); done
kc apply --server-side --field-manager=serverless-e2e-keda "${crd_args[@]}" >/dev/null
kc wait --for=condition=Established --timeout=30s "${crd_args[@]}" >/dev/null
kc create namespace keda --dry-run=client -o yaml | kc apply --server-side --field-manager=serverless-e2e-keda -f - >/dev/null

# --- TLS for the operator's gRPC metrics service (mTLS: the same cert serves and is a client) --
CERT_DIR="$KEDA_DIR/certs"
if [ ! -s "$CERT_DIR/tls.key" ] || [ ! -s "$CERT_DIR/tls.crt" ] || [ ! -s "$CERT_DIR/ca.crt" ]; then
	command -v openssl >/dev/null || die "openssl is needed to make $CERT_DIR (apt-get install openssl)"
	mkdir -p "$CERT_DIR"
	tmp="$(mktemp -d)"
	ossl() { openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed"; }
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout "$tmp/ca.key" -out "$tmp/ca.crt" -subj "/O=KEDAORG/CN=KEDA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
	cat >"$tmp/ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:keda-operator,DNS:keda-operator.keda,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.cluster.local,DNS:localhost,IP:127.0.0.1
EOF
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$tmp/tls.key" -out "$tmp/tls.csr" -subj "/O=KEDAORG/CN=keda-operator.keda.svc"
	ossl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
		-days 3650 -out "$tmp/tls.crt" -extfile "$tmp/ext"
	chmod 600 "$tmp"/*.key
	mv "$tmp/ca.key" "$tmp/ca.crt" "$tmp/tls.key" "$tmp/tls.crt" "$CERT_DIR/"
	rm -rf "$tmp"
	log "made gRPC TLS files in $CERT_DIR"
fi

# --- cluster DNS and Services for processes outside the pod network ---------------------------
# With the real node, KEDA's processes resolve names as a ClusterFirst pod does: the add-on
# writes its scaler's address as <service>.<namespace>, the interceptor forwards to
# <service>.<namespace>:<port>, and triggers name servers such as redis.data.svc.cluster.local.
# Each runs in a private mount namespace whose /etc/resolv.conf names CoreDNS; the host's
# resolver is left alone. Kube-proxy's rules route the Service addresses these names resolve to.
# launch puts LAUNCH_WRAPPER in front of each process (unshare and sh exec in turn).
LAUNCH_WRAPPER=()
if [ "${CLUSTER_REAL_NODE:-0}" = 1 ]; then
	RESOLV_CONF="$KEDA_DIR/resolv.conf"
	printf 'nameserver %s\nsearch svc.cluster.local cluster.local\noptions ndots:5\n' "$CLUSTER_DNS_IP" >"$RESOLV_CONF"
	# shellcheck disable=SC2016 # expanded by the inner shell
	LAUNCH_WRAPPER=(unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$RESOLV_CONF")
fi

# The add-on's Services as its Helm chart names them, served by processes on the node's address:
# KEDA dials the scaler through its Service; the scaler finds the interceptors it polls in the
# admin Service's Endpoints (the v1 API, which it reads).
addon_api_objects() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: keda-add-ons-http-external-scaler, namespace: keda}
spec:
  ports: [{name: grpc, port: ${KEDAHTTP_OPERATOR_EXTERNAL_SCALER_PORT:-9090}, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: keda-add-ons-http-external-scaler-node
  namespace: keda
  labels:
    kubernetes.io/service-name: keda-add-ons-http-external-scaler
    endpointslice.kubernetes.io/managed-by: local-cluster.serverless-operator.dev
addressType: IPv4
endpoints: [{addresses: [$NODE_IP], conditions: {ready: true}}]
ports: [{name: grpc, port: $KEDA_HTTP_SCALER_PORT, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: keda-add-ons-http-interceptor-admin, namespace: keda}
spec:
  ports: [{name: admin, port: $KEDA_HTTP_INTERCEPTOR_ADMIN_PORT, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: keda-add-ons-http-interceptor-admin, namespace: keda}
subsets: [{addresses: [{ip: $NODE_IP}], ports: [{name: admin, port: $KEDA_HTTP_INTERCEPTOR_ADMIN_PORT, protocol: TCP}]}]
EOF
}
if [[ " ${procs[*]} " == *" keda-http-add-on-scaler "* ]]; then
	addon_api_objects | kc apply --server-side --force-conflicts --field-manager=serverless-e2e-keda -f - >/dev/null ||
		die "cannot create the HTTP add-on's Services in namespace keda"
fi

# --- processes -------------------------------------------------------------------------------
start_keda-operator() {
	# shellcheck disable=SC2086
	launch keda-operator \
		KUBECONFIG="$KUBECONFIG" \
		WATCH_NAMESPACE="" \
		KEDA_CLUSTER_OBJECT_NAMESPACE=keda \
		POD_NAMESPACE=keda \
		"${BIN[keda-operator]}" \
		--leader-elect=false \
		--enable-cert-rotation=false \
		--cert-dir="$CERT_DIR" \
		--ca-dir="$CERT_DIR/custom-ca" \
		--metrics-bind-address="$KEDA_HOST:$KEDA_METRICS_PORT" \
		--health-probe-bind-address="$KEDA_HOST:$KEDA_PROBE_PORT" \
		--metrics-service-bind-address="$KEDA_HOST:$KEDA_GRPC_PORT" \
		--zap-log-level="${KEDA_LOG_LEVEL:-info}" \
		${KEDA_OPERATOR_ARGS:-}
}
start_keda-http-add-on-operator() {
	# The operator only writes the external scaler's address (<svc>.<ns>:<port>) into the
	# ScaledObjects it generates; nothing here runs that scaler or the interceptor.
	# shellcheck disable=SC2086
	launch keda-http-add-on-operator \
		KUBECONFIG="$KUBECONFIG" \
		KEDA_HTTP_OPERATOR_NAMESPACE=keda \
		KEDA_HTTP_OPERATOR_WATCH_NAMESPACE="" \
		KEDAHTTP_OPERATOR_EXTERNAL_SCALER_SERVICE="${KEDAHTTP_OPERATOR_EXTERNAL_SCALER_SERVICE:-keda-add-ons-http-external-scaler}" \
		KEDAHTTP_OPERATOR_EXTERNAL_SCALER_PORT="${KEDAHTTP_OPERATOR_EXTERNAL_SCALER_PORT:-9090}" \
		"${BIN[keda-http-add-on-operator]}" \
		--leader-elect=false \
		--metrics-bind-address="$KEDA_HOST:$KEDA_HTTP_ADDON_METRICS_PORT" \
		--health-probe-bind-address="$KEDA_HOST:$KEDA_HTTP_ADDON_PROBE_PORT" \
		--zap-devel=false \
		${KEDA_HTTP_ADDON_ARGS:-}
}
# The interceptor holds a request until the worker has a ready endpoint, for at most
# KEDA_CONDITION_WAIT_TIMEOUT: upstream's default (1.5 s) is shorter than a pod's start (the
# Helm chart's is 20 s).
start_keda-http-add-on-interceptor() {
	# shellcheck disable=SC2086
	launch keda-http-add-on-interceptor \
		KUBECONFIG="$KUBECONFIG" \
		KEDA_HTTP_CURRENT_NAMESPACE=keda \
		KEDA_HTTP_WATCH_NAMESPACE="" \
		KEDA_HTTP_PROXY_PORT="$KEDA_HTTP_PROXY_PORT" \
		KEDA_HTTP_ADMIN_PORT="$KEDA_HTTP_INTERCEPTOR_ADMIN_PORT" \
		KEDA_HTTP_OTEL_PROM_EXPORTER_PORT="$KEDA_HTTP_INTERCEPTOR_METRICS_PORT" \
		KEDA_CONDITION_WAIT_TIMEOUT="${KEDA_CONDITION_WAIT_TIMEOUT:-60s}" \
		"${BIN[keda-http-add-on-interceptor]}" \
		--zap-log-level="${KEDA_LOG_LEVEL:-info}" \
		${KEDA_HTTP_INTERCEPTOR_ARGS:-}
}
start_keda-http-add-on-scaler() {
	# shellcheck disable=SC2086
	launch keda-http-add-on-scaler \
		KUBECONFIG="$KUBECONFIG" \
		KEDA_HTTP_SCALER_PORT="$KEDA_HTTP_SCALER_PORT" \
		KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE=keda \
		KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE=keda-add-ons-http-interceptor-admin \
		KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT=keda-add-ons-http-interceptor \
		KEDA_HTTP_SCALER_TARGET_ADMIN_PORT="$KEDA_HTTP_INTERCEPTOR_ADMIN_PORT" \
		"${BIN[keda-http-add-on-scaler]}" \
		--zap-log-level="${KEDA_LOG_LEVEL:-info}" \
		${KEDA_HTTP_SCALER_ARGS:-}
}

started=()
for p in "${procs[@]}"; do start_proc "$p"; done

write_env "$KEDA_DIR/env" "settings of the KEDA processes started by e2e/keda/up.sh" \
	KEDA_DIR="$KEDA_DIR" KEDA_CERT_DIR="$CERT_DIR"
log "KEDA up ($(elapsed); started: ${started[*]:-none}); logs and settings: $KEDA_DIR"
