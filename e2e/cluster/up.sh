#!/usr/bin/env bash
# Start a local Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and the kwok controller, as background processes bound to 127.0.0.1, fake kwok
# nodes in two pools, and a real worker node (node.sh: registry, containerd, kubelet,
# kube-proxy, CoreDNS) that runs containers. CLUSTER_REAL_NODE=0 leaves the real node out.
#
#   e2e/cluster/up.sh                 # start whatever is not running, wait until ready
#   e2e/cluster/up.sh etcd apiserver  # start only these (e.g. after `down.sh apiserver`)
#   e2e/cluster/up.sh --restart-controllers apiserver
#                                     # ... then restart kcm, scheduler and kwok too, so they
#                                     # resume at once instead of after client-go's backoff
#
# Idempotent: components already running are left alone. State (pki, etcd data, logs, pid
# files, kubeconfig, audit.log) lives in $CLUSTER_DIR (default <repo>/.cache/cluster).
# Binaries come from build.sh (run automatically; instant when already built).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Node pools: "<pool>:<count> ..." -> nodes kwok-<pool>-<i> labelled pool=<pool>.
CLUSTER_NODE_POOLS="${CLUSTER_NODE_POOLS:-general:2 functions:2}"
NODE_CPU="${NODE_CPU:-32}"
NODE_MEMORY="${NODE_MEMORY:-256Gi}"
NODE_PODS="${NODE_PODS:-250}"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/16}"
POD_CIDR="${POD_CIDR:-10.244.0.0/16}" # pod IPs handed out by kwok
READY_TIMEOUT="${READY_TIMEOUT:-90}"  # seconds, per wait
# How long kube-controller-manager waits for a node lease renewal before marking the node
# NotReady. Upstream's 50s makes every fake node NotReady (for about a minute) after an
# apiserver or etcd outage longer than that, because informers resume with a backoff of up to
# ~30s; 5m keeps fault tests about the operator, not about nodes.
NODE_MONITOR_GRACE_PERIOD="${NODE_MONITOR_GRACE_PERIOD:-5m}"
# Extra flags, word-split: CLUSTER_{ETCD,APISERVER,KCM,SCHEDULER,KWOK}_ARGS.

procs=()
restart_controllers=0
for a in "$@"; do
	if [ "$a" = --restart-controllers ]; then
		restart_controllers=1
		continue
	fi
	p="$(canonical_proc "$a")" || die "unknown component '$a' (known: $CLUSTER_PROCS)"
	procs+=("$p")
done
[ "${#procs[@]}" -gt 0 ] || read -r -a procs <<<"$CLUSTER_PROCS"

# --- binaries ------------------------------------------------------------------------------
if [ "${CLUSTER_SKIP_BUILD:-0}" != 1 ]; then
	"$CLUSTER_SCRIPTS/build.sh" >/dev/null
fi
for c in $(cluster_components); do
	for b in $(component_binaries "$c"); do
		[ -x "$(cluster_bin "$b")" ] || die "$(cluster_bin "$b") missing: run $CLUSTER_SCRIPTS/build.sh"
	done
done
KUBECTL="$(cluster_bin kubectl)"

mkdir -p "$CLUSTER_DIR"/{pki,run,logs}
PKI="$CLUSTER_DIR/pki"
# The admin's kubeconfig, for kc. Not exported: each component has its own.
declare +x KUBECONFIG="$CLUSTER_DIR/kubeconfig"

choose_ports
APISERVER_URL="https://$CLUSTER_HOST:$CLUSTER_APISERVER_PORT"

# --- PKI (made once per state dir) -----------------------------------------------------------
openssl_q() { openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed"; }
make_ca() { # name cn
	[ -f "$PKI/$1.crt" ] && return 0
	openssl_q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout "$PKI/$1.key" -out "$PKI/$1.crt" -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
}
make_cert() { # name ca subject extendedKeyUsage [subjectAltName]
	[ -f "$PKI/$1.crt" ] && return 0
	local ext="$PKI/$1.ext"
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$4"
		[ -n "${5:-}" ] && echo "subjectAltName=$5"
	} >"$ext"
	openssl_q req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$3"
	openssl_q x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
		-days 3650 -out "$PKI/$1.crt" -extfile "$ext"
	rm -f "$PKI/$1.csr" "$ext"
}
make_pki() {
	make_ca ca serverless-operator-e2e-ca
	make_ca front-proxy-ca serverless-operator-e2e-front-proxy-ca
	make_cert apiserver ca "/CN=kube-apiserver" serverAuth \
		"IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	make_cert admin ca "/O=system:masters/CN=kubernetes-admin" clientAuth
	make_cert kube-controller-manager ca "/CN=system:kube-controller-manager" clientAuth
	make_cert kube-scheduler ca "/CN=system:kube-scheduler" clientAuth
	make_cert kwok ca "/O=system:masters/CN=system:kwok-controller" clientAuth
	make_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
	# The real node: the API server's client to kubelets, the kubelet (serving and client, as
	# the Node authorizer expects), kube-proxy (bound to system:node-proxier by default), CoreDNS.
	make_cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
	make_cert kubelet ca "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth,clientAuth "IP:$NODE_IP,DNS:$NODE_NAME"
	make_cert kube-proxy ca "/CN=system:kube-proxy" clientAuth
	make_cert coredns ca "/CN=system:coredns" clientAuth
	if [ ! -f "$PKI/sa.key" ]; then
		openssl_q genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
		openssl_q pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
	fi
	chmod 600 "$PKI"/*.key
}
make_kubeconfig() { # file cert-name user
	local tmp="$1.tmp.$$"
	cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: serverless-e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$2.crt")
    client-key-data: $(base64 -w0 "$PKI/$2.key")
contexts:
- name: serverless-e2e
  context:
    cluster: serverless-e2e
    user: $3
current-context: serverless-e2e
EOF
	chmod 600 "$tmp"
	mv "$tmp" "$1"
}
make_pki
make_kubeconfig "$KUBECONFIG" admin kubernetes-admin
for c in kube-controller-manager kube-scheduler kwok kubelet kube-proxy coredns; do
	make_kubeconfig "$CLUSTER_DIR/$c.kubeconfig" "$c" "$c"
done

# Audit policy: record every write (Metadata level), not reads nor lease heartbeats.
cat >"$CLUSTER_DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: None
  resources:
  - group: coordination.k8s.io
    resources: ["leases"]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics"]
- level: Metadata
EOF

# --- start commands (one function per component) ---------------------------------------------
start_etcd() {
	# shellcheck disable=SC2086
	launch etcd "$(cluster_bin etcd)" \
		--name=e2e \
		--data-dir="$CLUSTER_DIR/etcd" \
		--listen-client-urls="http://$CLUSTER_HOST:$CLUSTER_ETCD_PORT" \
		--advertise-client-urls="http://$CLUSTER_HOST:$CLUSTER_ETCD_PORT" \
		--listen-peer-urls="http://$CLUSTER_HOST:$CLUSTER_ETCD_PEER_PORT" \
		--initial-advertise-peer-urls="http://$CLUSTER_HOST:$CLUSTER_ETCD_PEER_PORT" \
		--initial-cluster="e2e=http://$CLUSTER_HOST:$CLUSTER_ETCD_PEER_PORT" \
		--unsafe-no-fsync \
		--quota-backend-bytes=$((8 * 1024 * 1024 * 1024)) \
		--log-level=warn \
		${CLUSTER_ETCD_ARGS:-}
}
start_kube-apiserver() {
	# shellcheck disable=SC2086
	launch kube-apiserver "$(cluster_bin kube-apiserver)" \
		--bind-address="$CLUSTER_HOST" \
		--advertise-address="$CLUSTER_HOST" \
		--secure-port="$CLUSTER_APISERVER_PORT" \
		--etcd-servers="http://$CLUSTER_HOST:$CLUSTER_ETCD_PORT" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--endpoint-reconciler-type=none \
		--authorization-mode=Node,RBAC \
		--allow-privileged=true \
		--client-ca-file="$PKI/ca.crt" \
		--tls-cert-file="$PKI/apiserver.crt" \
		--tls-private-key-file="$PKI/apiserver.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
		--requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User \
		--requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$PKI/front-proxy-client.crt" \
		--proxy-client-key-file="$PKI/front-proxy-client.key" \
		--enable-aggregator-routing=true \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--audit-policy-file="$CLUSTER_DIR/audit-policy.yaml" \
		--audit-log-path="$CLUSTER_DIR/audit.log" \
		--audit-log-format=json \
		--audit-log-mode=blocking \
		${CLUSTER_APISERVER_ARGS:-}
}
# launch_controller NAME PORT FLAG...: launch kube-controller-manager or kube-scheduler with the
# flags both take: its own kubeconfig, for the API and for delegated authn/authz, its secure
# port on loopback, no leader election; then the FLAGs.
launch_controller() {
	local name="$1" port="$2" kc="$CLUSTER_DIR/$1.kubeconfig"
	shift 2
	launch "$name" "$(cluster_bin "$name")" \
		--kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" \
		--authorization-kubeconfig="$kc" \
		--bind-address="$CLUSTER_HOST" \
		--secure-port="$port" \
		--leader-elect=false \
		"$@"
}
start_kube-controller-manager() {
	# shellcheck disable=SC2086
	launch_controller kube-controller-manager "$CLUSTER_KCM_PORT" \
		--controllers='*' \
		--use-service-account-credentials=true \
		--service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/ca.crt" \
		--cluster-signing-cert-file="$PKI/ca.crt" \
		--cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--node-monitor-grace-period="$NODE_MONITOR_GRACE_PERIOD" \
		${CLUSTER_KCM_ARGS:-}
}
start_kube-scheduler() {
	# shellcheck disable=SC2086
	launch_controller kube-scheduler "$CLUSTER_SCHEDULER_PORT" ${CLUSTER_SCHEDULER_ARGS:-}
}
start_kwok() {
	# kwok only manages the nodes whose Lease it holds, and a new kwok process has a new holder
	# identity (hostname + random id): it would wait out the old process's leases (40s) before
	# making any pod Running. The old process is gone (we only start kwok when it is not
	# running), so drop its leases; kwok recreates them at once. (Leases are not audited.)
	if healthy kube-apiserver; then
		local kwok_nodes
		kwok_nodes="$(kc get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}' 2>/dev/null)" || true
		# shellcheck disable=SC2086 # one lease per node name
		[ -z "$kwok_nodes" ] || kc delete leases -n kube-node-lease $kwok_nodes --ignore-not-found --wait=false >/dev/null 2>&1 || true
	fi
	# shellcheck disable=SC2086
	launch kwok "$(cluster_bin kwok)" \
		--kubeconfig="$CLUSTER_DIR/kwok.kubeconfig" \
		--config="$(component_bin_dir kwok)/stages.yaml" \
		--manage-nodes-with-label-selector=type=kwok \
		--cidr="$POD_CIDR" \
		--node-ip="$CLUSTER_HOST" \
		--node-port="$CLUSTER_KWOK_PORT" \
		--server-address="$CLUSTER_HOST:$CLUSTER_KWOK_PORT" \
		--node-lease-duration-seconds=40 \
		${CLUSTER_KWOK_ARGS:-}
}

if [ "$CLUSTER_REAL_NODE" = 1 ]; then
	need_node_packages
	node_network_up
	write_node_config
fi

# What the next components need from one that is up: CoreDNS's RBAC and the node's Service
# endpoints in the API; the pause image (every sandbox starts from it) in the registry.
after_healthy() {
	case "$1" in
	kube-apiserver)
		if [ "$CLUSTER_REAL_NODE" = 1 ] && ! kc get endpointslice -n default kubernetes-node-relay >/dev/null 2>&1; then
			kc apply --server-side --field-manager=local-cluster -f - <<<"$(node_api_objects)" >/dev/null ||
				die "cannot create the real node's Service endpoints and CoreDNS RBAC"
		fi
		;;
	registry) push_pause_image ;;
	esac
}

started=()
# In order, each one healthy before the next: the apiserver needs etcd, the rest the apiserver.
start_procs() {
	local p
	for p in $CLUSTER_PROCS; do
		one_of "$p" "${procs[@]}" || continue
		start_proc "$p"
		after_healthy "$p"
	done
}
start_procs

# After an apiserver/etcd outage the controllers' informers resume only after client-go's
# backoff (up to a minute or two); restarting them once the apiserver is ready skips that.
if [ "$restart_controllers" = 1 ]; then
	wait_healthy kube-apiserver
	"$CLUSTER_SCRIPTS/down.sh" kube-controller-manager kube-scheduler kwok
	procs=(kube-controller-manager kube-scheduler kwok)
	start_procs
fi

if proc_pid kube-apiserver >/dev/null; then
	# Also after a restart of etcd alone: the apiserver must be ready again before we go on.
	wait_healthy kube-apiserver
	# Fake nodes: create those missing (never touch existing ones: keeps the audit log quiet).
	names="$(kc get nodes -o name)" || die "cannot list nodes"
	names="${names//node\//}"
	existing=" ${names//$'\n'/ } "
	manifest=""
	for pool_spec in $CLUSTER_NODE_POOLS; do
		pool="${pool_spec%%:*}"
		count="${pool_spec##*:}"
		for ((i = 0; i < count; i++)); do
			node="kwok-$pool-$i"
			[[ "$existing" == *" $node "* ]] && continue
			manifest+="---
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels:
    pool: $pool
    type: kwok
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: kwok
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
spec: {}
status:
  allocatable: {cpu: \"$NODE_CPU\", memory: \"$NODE_MEMORY\", pods: \"$NODE_PODS\", ephemeral-storage: 1Ti}
  capacity: {cpu: \"$NODE_CPU\", memory: \"$NODE_MEMORY\", pods: \"$NODE_PODS\", ephemeral-storage: 1Ti}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: $(component_version kubernetes)
"
		done
	done
	if [ -n "$manifest" ]; then
		kc create -f - <<<"$manifest" >/dev/null
		log "created nodes ($(elapsed))"
	fi
	if proc_pid kwok >/dev/null && [ -n "$(kc get nodes -l type=kwok -o name)" ]; then
		kc wait --for=condition=Ready nodes -l type=kwok --timeout="${READY_TIMEOUT}s" >/dev/null ||
			die "nodes not Ready; see $(log_file kwok)"
		# kwok handles a node's pods once it holds the node's Lease.
		leases_at_least() { [ "$(kc get leases -n kube-node-lease -o name | wc -l)" -ge "$1" ]; }
		wait_until "$READY_TIMEOUT" leases_at_least "$(kc get nodes -l type=kwok -o name | wc -l)" ||
			die "kwok holds no node leases; see $(log_file kwok)"
		[ "${#started[@]}" -eq 0 ] || log "nodes Ready and leased by kwok ($(elapsed))"
	fi
	if [ "$CLUSTER_REAL_NODE" = 1 ] && proc_pid kubelet >/dev/null; then
		# The kubelet registers the node itself; wait for that, then for Ready.
		wait_until "$READY_TIMEOUT" kc get "node/$NODE_NAME" || die "node $NODE_NAME not registered; see $(log_file kubelet)"
		kc wait --for=condition=Ready "node/$NODE_NAME" --timeout="${READY_TIMEOUT}s" >/dev/null ||
			die "node $NODE_NAME not Ready; see $(log_file kubelet)"
		[ "${#started[@]}" -eq 0 ] || log "node $NODE_NAME Ready ($(elapsed))"
	fi
	# Pods need the namespace's default ServiceAccount (made by kube-controller-manager).
	if proc_pid kube-controller-manager >/dev/null; then
		wait_until "$READY_TIMEOUT" kc get serviceaccount default -n default ||
			die "no default ServiceAccount; see $(log_file kube-controller-manager)"
		[ "${#started[@]}" -eq 0 ] || log "default ServiceAccount present ($(elapsed))"
	fi
fi

write_env "$CLUSTER_DIR/env" "settings of the local cluster started by e2e/cluster/up.sh" \
	KUBECONFIG="$KUBECONFIG" CLUSTER_DIR="$CLUSTER_DIR" CLUSTER_BIN_DIR="$CLUSTER_BIN_ROOT/current" \
	KUBECTL="$KUBECTL" APISERVER_URL="$APISERVER_URL" AUDIT_LOG="$CLUSTER_DIR/audit.log" \
	CLUSTER_REAL_NODE="$CLUSTER_REAL_NODE" CLUSTER_REGISTRY="$(registry_addr)" NODE_NAME="$NODE_NAME" \
	NODE_IP="$NODE_IP" CLUSTER_DNS_IP="$CLUSTER_DNS_IP"

if [ "${#started[@]}" -eq 0 ]; then
	log "cluster already up ($(elapsed)): kubeconfig $KUBECONFIG"
else
	log "cluster up in $(elapsed) (started: ${started[*]}): kubeconfig $KUBECONFIG, server $APISERVER_URL"
fi
