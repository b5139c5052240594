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

T0="$(date +%s%3N)"
elapsed() { echo "$(($(date +%s%3N) - T0))ms"; }

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
wants() {
	local p
	for p in "${procs[@]}"; do [ "$p" = "$1" ] && return 0; done
	return 1
}

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
KUBECONFIG_ADMIN="$CLUSTER_DIR/kubeconfig"

# --- ports ---------------------------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/$CLUSTER_HOST/$1") 2>/dev/null; }
if [ ! -f "$CLUSTER_DIR/ports.env" ]; then
	# First start: take the defaults, moving past any that are taken (unless set explicitly).
	for v in $CLUSTER_PORT_VARS; do
		if [ -z "${!v:-}" ]; then
			port="$(default_port "$v")"
			while port_busy "$port"; do port=$((port + 1)); done
			printf -v "$v" '%s' "$port"
		fi
	done
fi
load_ports
for v in $CLUSTER_PORT_VARS; do echo "$v=${!v}"; done >"$CLUSTER_DIR/ports.env"
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
make_kubeconfig "$KUBECONFIG_ADMIN" admin kubernetes-admin
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

kc() { "$KUBECTL" --kubeconfig="$KUBECONFIG_ADMIN" "$@"; }

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
start_kube-controller-manager() {
	local kc="$CLUSTER_DIR/kube-controller-manager.kubeconfig"
	# shellcheck disable=SC2086
	launch kube-controller-manager "$(cluster_bin kube-controller-manager)" \
		--kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" \
		--authorization-kubeconfig="$kc" \
		--bind-address="$CLUSTER_HOST" \
		--secure-port="$CLUSTER_KCM_PORT" \
		--leader-elect=false \
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
	local kc="$CLUSTER_DIR/kube-scheduler.kubeconfig"
	# shellcheck disable=SC2086
	launch kube-scheduler "$(cluster_bin kube-scheduler)" \
		--kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" \
		--authorization-kubeconfig="$kc" \
		--bind-address="$CLUSTER_HOST" \
		--secure-port="$CLUSTER_SCHEDULER_PORT" \
		--leader-elect=false \
		${CLUSTER_SCHEDULER_ARGS:-}
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

launch() { # name binary args...
	local name="$1" bin="$2"
	shift 2
	echo "--- $(date -Is) $bin $*" >>"$(log_file "$name")"
	# setsid: own session, so the process outlives this shell and is stopped only by down.sh.
	setsid "$bin" "$@" >>"$(log_file "$name")" 2>&1 </dev/null &
	echo $! >"$(pid_file "$name")"
}

proc_port() {
	case "$1" in
	etcd) echo "$CLUSTER_ETCD_PORT" ;;
	kube-apiserver) echo "$CLUSTER_APISERVER_PORT" ;;
	kube-controller-manager) echo "$CLUSTER_KCM_PORT" ;;
	kube-scheduler) echo "$CLUSTER_SCHEDULER_PORT" ;;
	kwok) echo "$CLUSTER_KWOK_PORT" ;;
	registry) echo "$CLUSTER_REGISTRY_PORT" ;;
	kube-proxy) echo "$CLUSTER_KUBE_PROXY_PORT" ;;
	coredns) echo "$CLUSTER_COREDNS_READY_PORT" ;;
	kubelet) echo "$CLUSTER_KUBELET_HEALTHZ_PORT" ;;
	esac
}
health_url() {
	case "$1" in
	etcd) echo "http://$CLUSTER_HOST:$CLUSTER_ETCD_PORT/health" ;;
	kube-apiserver) echo "$APISERVER_URL/readyz" ;;
	kube-controller-manager) echo "https://$CLUSTER_HOST:$CLUSTER_KCM_PORT/healthz" ;;
	kube-scheduler) echo "https://$CLUSTER_HOST:$CLUSTER_SCHEDULER_PORT/healthz" ;;
	kwok) echo "http://$CLUSTER_HOST:$CLUSTER_KWOK_PORT/healthz" ;;
	registry) echo "http://$(registry_addr)/v2/" ;;
	kubelet) echo "http://$CLUSTER_HOST:$CLUSTER_KUBELET_HEALTHZ_PORT/healthz" ;;
	kube-proxy) echo "http://$CLUSTER_HOST:$CLUSTER_KUBE_PROXY_PORT/livez" ;;
	coredns) echo "http://$CLUSTER_HOST:$CLUSTER_COREDNS_READY_PORT/ready" ;;
	# Through the relay, to the API server: what pods reach behind the kubernetes Service.
	apiserver-relay) echo "https://$NODE_IP:$CLUSTER_APISERVER_PORT/readyz" ;;
	esac
}
healthy() {
	case "$1" in
	containerd) "$(cluster_bin ctr)" --address "$(containerd_sock)" version >/dev/null 2>&1 ;;
	registry) curl -fs --max-time 2 "$(health_url "$1")" >/dev/null 2>&1 ;; # answers {}
	*) curl -fsk --max-time 2 "$(health_url "$1")" 2>/dev/null | grep -qi 'ok\|"health":"true"\|"healthy":true' ;;
	esac
}
wait_healthy() { wait_ready "$1" "$(log_file "$1")" healthy proc_pid; }

# A component stopped a moment ago (down.sh, a restart) may still hold its port: a Go process
# whose main thread has exited shows as a zombie while its other threads still close sockets.
port_released() {
	local deadline=$((SECONDS + 10))
	while port_busy "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
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
start_procs() {
	local p
	for p in $CLUSTER_PROCS; do
		wants "$p" || continue
		if proc_pid "$p" >/dev/null; then
			healthy "$p" || wait_healthy "$p"
		else
			rm -f "$(pid_file "$p")"
			if [ -n "$(proc_port "$p")" ]; then
				port_released "$(proc_port "$p")" || die "port $(proc_port "$p") for $p is taken by another process (ports: $CLUSTER_DIR/ports.env; override with CLUSTER_*_PORT env vars)"
			fi
			"start_$p"
			# Each component needs the previous ones (apiserver needs etcd, the rest the apiserver).
			wait_healthy "$p"
			started+=("$p")
			log "$p healthy (pid $(cat "$(pid_file "$p")"), $(elapsed))"
		fi
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
		nodes="$(kc get nodes -l type=kwok -o name | wc -l)"
		deadline=$((SECONDS + READY_TIMEOUT))
		until [ "$(kc get leases -n kube-node-lease -o name | wc -l)" -ge "$nodes" ]; do
			[ "$SECONDS" -lt "$deadline" ] || die "kwok holds no node leases; see $(log_file kwok)"
			sleep 0.2
		done
		[ "${#started[@]}" -eq 0 ] || log "nodes Ready and leased by kwok ($(elapsed))"
	fi
	if [ "$CLUSTER_REAL_NODE" = 1 ] && proc_pid kubelet >/dev/null; then
		# The kubelet registers the node itself; wait for that, then for Ready.
		deadline=$((SECONDS + READY_TIMEOUT))
		until kc get "node/$NODE_NAME" >/dev/null 2>&1; do
			[ "$SECONDS" -lt "$deadline" ] || die "node $NODE_NAME not registered; see $(log_file kubelet)"
			sleep 0.2
		done
		kc wait --for=condition=Ready "node/$NODE_NAME" --timeout="${READY_TIMEOUT}s" >/dev/null ||
			die "node $NODE_NAME not Ready; see $(log_file kubelet)"
		[ "${#started[@]}" -eq 0 ] || log "node $NODE_NAME Ready ($(elapsed))"
	fi
	# Pods need the namespace's default ServiceAccount (made by kube-controller-manager).
	if proc_pid kube-controller-manager >/dev/null; then
		deadline=$((SECONDS + READY_TIMEOUT))
		until kc get serviceaccount default -n default >/dev/null 2>&1; do
			[ "$SECONDS" -lt "$deadline" ] || die "no default ServiceAccount; see $(log_file kube-controller-manager)"
			sleep 0.2
		done
		[ "${#started[@]}" -eq 0 ] || log "default ServiceAccount present ($(elapsed))"
	fi
fi

cat >"$CLUSTER_DIR/env" <<EOF
# source this file: settings of the local cluster started by e2e/cluster/up.sh
export KUBECONFIG="$KUBECONFIG_ADMIN"
export CLUSTER_DIR="$CLUSTER_DIR"
export CLUSTER_BIN_DIR="$CLUSTER_BIN_ROOT/current"
export KUBECTL="$KUBECTL"
export APISERVER_URL="$APISERVER_URL"
export AUDIT_LOG="$CLUSTER_DIR/audit.log"
export CLUSTER_REAL_NODE="$CLUSTER_REAL_NODE"
export CLUSTER_REGISTRY="$(registry_addr)"
export NODE_NAME="$NODE_NAME"
export NODE_IP="$NODE_IP"
export CLUSTER_DNS_IP="$CLUSTER_DNS_IP"
$(sed 's/^/export /' "$CLUSTER_DIR/ports.env")
EOF

if [ "${#started[@]}" -eq 0 ]; then
	log "cluster already up ($(elapsed)): kubeconfig $KUBECONFIG_ADMIN"
else
	log "cluster up in $(elapsed) (started: ${started[*]}): kubeconfig $KUBECONFIG_ADMIN, server $APISERVER_URL"
fi
