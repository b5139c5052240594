# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# The real worker node beside the kwok pools: an OCI registry on loopback, containerd with
# runc and the CNI plugins, kubelet, kube-proxy, CoreDNS, and a relay that lets pods reach the
# API server through the `kubernetes` Service. Sourced by lib.sh; the node's pieces are listed
# in NODE_PROCS and their start commands are the start_<name> functions below, in the same form
# as the control plane's in up.sh.

# CLUSTER_REAL_NODE=0 starts the control plane and kwok only (no container ever runs).
CLUSTER_REAL_NODE="${CLUSTER_REAL_NODE:-1}"
NODE_NAME="${NODE_NAME:-worker-0}"
# Pods of the real node get addresses from this range, on the bridge NODE_BRIDGE whose
# gateway address is the node's own IP; kwok hands out POD_CIDR to its simulated pods.
NODE_POD_CIDR="${NODE_POD_CIDR:-10.245.0.0/24}"
NODE_BRIDGE="${NODE_BRIDGE:-so-br0}"
NODE_IP="${NODE_POD_CIDR%.0/*}.1"
NODE_DIR="$CLUSTER_DIR/node"
# The real node's taint and label: simulated and real workloads stay apart, and a test that
# needs running containers says so with a toleration and a nodeSelector (type=real).
NODE_TAINT_KEY="type"
NODE_TAINT_VALUE=real
CLUSTER_DNS_IP="${CLUSTER_DNS_IP:-10.96.0.10}"
# The pause image every pod sandbox starts from, built from Kubernetes' own pause.c.
PAUSE_IMAGE_TAG=3.10

# Their executables, ports and health checks: describe in lib.sh.
NODE_PROCS="registry containerd kubelet kube-proxy coredns apiserver-relay"
registry_addr() { echo "$CLUSTER_HOST:$CLUSTER_REGISTRY_PORT"; }
pause_image() { echo "$(registry_addr)/pause:$PAUSE_IMAGE_TAG"; }
containerd_sock() { echo "$NODE_DIR/containerd/containerd.sock"; }
# containerd's health: it answers on its socket.
containerd_answers() { "$(cluster_bin ctr)" --address "$(containerd_sock)" version >/dev/null 2>&1; }

# Debian packages the node uses at run time: iptables for kube-proxy (and kubelet's canary
# chains), socat for the API server relay. Installed once, like libseccomp-dev for the build.
need_node_packages() {
	local missing=()
	command -v iptables >/dev/null || missing+=(iptables)
	command -v socat >/dev/null || missing+=(socat)
	[ "${#missing[@]}" -eq 0 ] || apt_install "the real node's packet filter and API server relay" "${missing[@]}"
}

# The node's address lives on its CNI bridge, made before anything binds to it; the bridge
# plugin then uses the existing bridge and its gateway address.
node_network_up() {
	if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
		ip link add "$NODE_BRIDGE" type bridge
	fi
	[[ "$(ip -4 addr show dev "$NODE_BRIDGE")" == *" $NODE_IP/"* ]] ||
		ip addr add "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
	ip link set "$NODE_BRIDGE" up
	# Pod -> Service -> pod on one bridge: kube-proxy's DNAT must see bridged replies.
	[ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" = 1 ] ||
		echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
	service_guard_up
}

# Service addresses exist only in kube-proxy's rules, and it rewrites its filter and nat tables
# one after the other: when a Service gets its first endpoint, a connection made in between
# meets neither the REJECT nor the DNAT, follows the default route off the machine, and is
# answered by whatever is out there (a 404 from this network's egress proxy, seen as a cold
# start answered by a stranger). This chain refuses it, as kube-proxy refuses a Service with no
# endpoints, so the client retries. Filter rules see addresses after kube-proxy's DNAT: only
# connections it did not translate match.
SERVICE_GUARD_CHAIN=SERVERLESS-E2E-SERVICES
service_guard_up() {
	iptables -N "$SERVICE_GUARD_CHAIN" 2>/dev/null || iptables -F "$SERVICE_GUARD_CHAIN"
	iptables -A "$SERVICE_GUARD_CHAIN" -d "$SERVICE_CIDR" \
		-m comment --comment "Service address kube-proxy did not translate" \
		-j REJECT --reject-with icmp-port-unreachable
	local hook
	for hook in OUTPUT FORWARD; do
		iptables -C "$hook" -j "$SERVICE_GUARD_CHAIN" 2>/dev/null || iptables -I "$hook" -j "$SERVICE_GUARD_CHAIN"
	done
}
service_guard_down() {
	command -v iptables >/dev/null || return 0
	local hook
	for hook in OUTPUT FORWARD; do
		while iptables -D "$hook" -j "$SERVICE_GUARD_CHAIN" 2>/dev/null; do :; done
	done
	iptables -F "$SERVICE_GUARD_CHAIN" 2>/dev/null || true
	iptables -X "$SERVICE_GUARD_CHAIN" 2>/dev/null || true
}

# write_if_changed FILE: stdin to FILE, leaving FILE alone when it already holds that (kube-proxy
# exits when its configuration file is written).
write_if_changed() {
	local tmp="$1.tmp.$$"
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_node_config() {
	mkdir -p "$NODE_DIR"/{containerd/certs.d,cni/net.d,kubelet,runc,coredns,registry} "$NODE_DIR/containerd/certs.d/$(registry_addr)"
	local cni_bin
	cni_bin="$(component_bin_dir cni-plugins)"
	# Pods get routes to the pod range and the Service range only: nothing leaves the machine.
	write_if_changed "$NODE_DIR/cni/net.d/10-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "serverless-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SERVICE_CIDR"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	# The registry speaks plain HTTP on loopback; containerd pulls from it as from any registry.
	write_if_changed "$NODE_DIR/containerd/certs.d/$(registry_addr)/hosts.toml" <<EOF
server = "http://$(registry_addr)"

[host."http://$(registry_addr)"]
  capabilities = ["pull", "resolve"]
EOF
	# restrict_oom_score_adj: this machine has no CAP_SYS_RESOURCE, so a negative
	# oom_score_adj (every sandbox's) fails. cgroup v1 with the cgroupfs driver.
	write_if_changed "$NODE_DIR/containerd/config.toml" <<EOF
version = 3
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"

[grpc]
  address = "$(containerd_sock)"

[ttrpc]
  address = "$(containerd_sock).ttrpc"

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(component_bin_dir runc)/runc"
        Root = "$NODE_DIR/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$cni_bin"]
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$(pause_image)"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$NODE_DIR/containerd/certs.d"
EOF
	# Pods never ask the host's resolver (it is off this machine): ClusterFirst pods use
	# CoreDNS, the rest get a resolver that answers nothing.
	echo "nameserver 127.0.0.1" | write_if_changed "$NODE_DIR/kubelet/resolv.conf"
	write_if_changed "$NODE_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $CLUSTER_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: $CLUSTER_HOST
healthzPort: $CLUSTER_KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$(containerd_sock)
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$CLUSTER_DNS_IP]
resolvConf: $NODE_DIR/kubelet/resolv.conf
registerWithTaints:
- {key: $NODE_TAINT_KEY, value: $NODE_TAINT_VALUE, effect: NoSchedule}
maxPods: 110
# A busy CI machine must not evict the suite's pods; the disk is shared with the builds.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
	write_if_changed "$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_CIDR
healthzBindAddress: $CLUSTER_HOST:$CLUSTER_KUBE_PROXY_PORT
metricsBindAddress: $CLUSTER_HOST:$CLUSTER_KUBE_PROXY_METRICS_PORT
nodePortAddresses: [primary]
iptables:
  localhostNodePorts: false
# Zero: leave the host's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
	# Cluster DNS for the real node's pods; names outside cluster.local are not forwarded.
	write_if_changed "$NODE_DIR/coredns/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health $CLUSTER_HOST:$CLUSTER_COREDNS_HEALTH_PORT
    ready $CLUSTER_HOST:$CLUSTER_COREDNS_READY_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CLUSTER_DIR/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF
}

# --- start commands --------------------------------------------------------------------------
start_registry() {
	launch registry "$(cluster_bin crane)" registry serve \
		--address "$(registry_addr)" --disk "$NODE_DIR/registry"
}
start_containerd() {
	# The shim is found on PATH, next to containerd.
	PATH="$(component_bin_dir containerd):$PATH" launch containerd "$(cluster_bin containerd)" \
		--config "$NODE_DIR/containerd/config.toml" --log-level warn
}
start_kubelet() {
	# shellcheck disable=SC2086
	launch kubelet "$(cluster_bin kubelet)" \
		--config="$NODE_DIR/kubelet/config.yaml" \
		--kubeconfig="$CLUSTER_DIR/kubelet.kubeconfig" \
		--root-dir="$NODE_DIR/kubelet/root" \
		--cert-dir="$NODE_DIR/kubelet/pki" \
		--hostname-override="$NODE_NAME" \
		--node-ip="$NODE_IP" \
		--node-labels="type=real,pool=real" \
		--v=1 \
		${CLUSTER_KUBELET_ARGS:-}
}
start_kube-proxy() {
	launch kube-proxy "$(cluster_bin kube-proxy)" --config="$NODE_DIR/kube-proxy.yaml"
}
start_coredns() {
	launch coredns "$(cluster_bin coredns)" -conf "$NODE_DIR/coredns/Corefile"
}
# The API server listens on loopback only; pods reach it at the `kubernetes` Service, whose
# endpoint is this relay on the node's address (TLS passes through: the serving certificate
# names the Service IP).
start_apiserver-relay() {
	launch apiserver-relay "$(command -v socat)" \
		"TCP-LISTEN:$CLUSTER_APISERVER_PORT,bind=$NODE_IP,fork,reuseaddr" "TCP:$CLUSTER_HOST:$CLUSTER_APISERVER_PORT"
}

# node_endpoint_slice NAME NAMESPACE SERVICE PORTS: the node's address as the endpoint of a
# Service whose server runs outside the pod network.
node_endpoint_slice() {
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1
  namespace: $2
  labels:
    kubernetes.io/service-name: $3
    endpointslice.kubernetes.io/managed-by: local-cluster.serverless-operator.dev
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports: $4
EOF
}

# Objects the node needs in the API: Service endpoints for the API server and DNS (both run
# outside the pod network), and CoreDNS's read access.
node_api_objects() {
	cat <<EOF
$(node_endpoint_slice kubernetes-node-relay default kubernetes "[{name: https, port: $CLUSTER_APISERVER_PORT, protocol: TCP}]")
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
$(node_endpoint_slice kube-dns-node kube-system kube-dns "[{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]")
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:coredns}
EOF
}

# The sandbox image, pushed once per registry: the pause binary as a one-layer image.
push_pause_image() {
	local crane ref tmp
	crane="$(cluster_bin crane)"
	ref="$(pause_image)"
	"$crane" digest --insecure "$ref" >/dev/null 2>&1 && return 0
	tmp="$(mktemp -d)"
	install -D -m 0755 "$(cluster_bin pause)" "$tmp/root/pause"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/root" -cf "$tmp/layer.tar" pause
	if ! "$crane" append --insecure --oci-empty-base -f "$tmp/layer.tar" -t "$ref" >/dev/null 2>"$tmp/log" ||
		! "$crane" mutate --insecure --set-platform linux/amd64 --entrypoint /pause --user 65535:65535 -t "$ref" "$ref" >/dev/null 2>>"$tmp/log"; then
		die "pushing $ref failed: $(cat "$tmp/log")"
	fi
	rm -rf "$tmp"
	log "pushed $ref"
}

# Undo what the node did to the host; each step is a no-op when there is nothing to undo.
node_teardown() {
	local runc_bin shim id pid m cg
	runc_bin="$(component_bin_dir runc)/runc"
	if [ -d "$NODE_DIR/runc" ] && [ -x "$runc_bin" ]; then
		for root in "$NODE_DIR"/runc/*/; do
			for id in $("$runc_bin" --root "$root" list -q 2>/dev/null); do
				"$runc_bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
			done
		done
	fi
	# Shims outlive containerd by design; ours are the ones running our binary.
	shim="$(component_bin_dir containerd)/containerd-shim-runc-v2"
	for pid in $(pgrep -f "^$shim" 2>/dev/null); do
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$shim" ] && kill -KILL "$pid" 2>/dev/null
	done
	# Deepest first: volumes and rootfs mounts under the node's directory.
	findmnt -rn -o TARGET 2>/dev/null | { grep "^$NODE_DIR/" || true; } | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	if [ -x "$(component_bin_dir kubernetes)/kube-proxy" ] && command -v iptables >/dev/null; then
		"$(component_bin_dir kubernetes)/kube-proxy" --cleanup >/dev/null 2>&1 || true
		# The kubelet's own canary chains, which kube-proxy leaves.
		local table
		for table in mangle nat filter; do
			iptables -t "$table" -X KUBE-KUBELET-CANARY 2>/dev/null || true
		done
	fi
	service_guard_down
	if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
		ip link delete "$NODE_BRIDGE" 2>/dev/null || true
	fi
	rm -rf "$NODE_DIR/cni/ipam"
	return 0
}
