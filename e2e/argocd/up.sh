#!/usr/bin/env bash
# Start Argo CD's application controller and repo server, and the Redis they cache in, as local
# processes against the local cluster (e2e/cluster/up.sh must have started it).
#
#   e2e/argocd/up.sh
#
# Idempotent: installs/updates Argo CD's CRDs (server-side apply), namespace argocd, the
# ConfigMaps and Secret of upstream's manifests/base/config (labelled part-of=argocd, which Argo
# CD's settings informer requires) and the `default` AppProject (argocd-server, not run here,
# would create it); starts what is not running and waits for its health check. No argocd-server,
# Dex, ApplicationSet or notifications controller: Applications are written with kubectl.
# ARGOCD_FAKE_IN_CLUSTER=true maps https://kubernetes.default.svc to $KUBECONFIG (the cluster's
# admin). Pid files, logs, working dirs and an env file live in $CLUSTER_DIR/argocd/.
#
# Env: KUBECONFIG (default $CLUSTER_DIR/kubeconfig), KUBECTL (default: from $CLUSTER_DIR/env),
# ARGOCD_*_PORT (see lib.sh), ARGOCD_APP_RESYNC (seconds between the controller's resyncs,
# default 30; upstream's is 120) and ARGOCD_APP_RESYNC_JITTER (default 0; upstream's is 60),
# ARGOCD_LOG_LEVEL (default info; logs are JSON),
# ARGOCD_CONTROLLER_ARGS / ARGOCD_REPO_SERVER_ARGS (extra flags, word-split),
# ARGOCD_SKIP_BUILD=1, READY_TIMEOUT (default 60 s).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${READY_TIMEOUT:-60}"
ARGOCD_APP_RESYNC="${ARGOCD_APP_RESYNC:-30}"
ARGOCD_APP_RESYNC_JITTER="${ARGOCD_APP_RESYNC_JITTER:-0}"
ARGOCD_LOG_LEVEL="${ARGOCD_LOG_LEVEL:-info}"
MANAGER=serverless-e2e-argocd

# --- binaries, Redis, cluster access -----------------------------------------------------------
if [ "${ARGOCD_SKIP_BUILD:-0}" != 1 ]; then
	"$ARGOCD_SCRIPTS/build.sh" >/dev/null
fi
BIN_DIR="$(argocd_bin_dir)"
for p in $ARGOCD_PROCS; do
	[ -x "$BIN_DIR/$p" ] || die "$BIN_DIR/$p missing: run $ARGOCD_SCRIPTS/build.sh"
done
command -v redis-server >/dev/null || apt_install "Argo CD caches in Redis" redis-server

use_cluster
[ -f "$KUBECONFIG" ] || die "no kubeconfig at $KUBECONFIG: start the cluster (e2e/cluster/up.sh)"
kc get --raw /readyz >/dev/null 2>&1 || die "the apiserver in $KUBECONFIG is not ready: start the cluster (e2e/cluster/up.sh)"

mkdir -p "$ARGOCD_DIR"/{bin,redis,tmp,tls,ssh,gpg/keys,gpg/source,plugins}
chmod 700 "$ARGOCD_DIR/gpg/keys"
# The repo server runs `kustomize build DIR` for a path holding a kustomization.yaml (and
# `kustomize version --short` for some options): kubectl's built-in kustomize stands in for it.
kubectl_path="$(command -v "$KUBECTL")" || die "no kubectl at $KUBECTL"
cat >"$ARGOCD_DIR/bin/kustomize.tmp" <<SH
#!/bin/sh
# Written by e2e/argocd/up.sh: kustomize for Argo CD's repo server, as kubectl's built-in one.
case "\$1" in
build) shift; exec "$kubectl_path" kustomize "\$@" ;;
version) echo "{kustomize/\$("$kubectl_path" version --client -o json | sed -n 's/.*"kustomizeVersion": *"\\([^"]*\\)".*/\\1/p')  }" ;;
*) echo "kustomize \$1: not supported by this stand-in (kubectl kustomize)" >&2; exit 1 ;;
esac
SH
chmod +x "$ARGOCD_DIR/bin/kustomize.tmp"
mv "$ARGOCD_DIR/bin/kustomize.tmp" "$ARGOCD_DIR/bin/kustomize"

# --- CRDs, namespace, settings, default project ------------------------------------------------
kc apply --server-side --force-conflicts --field-manager="$MANAGER" -f "$BIN_DIR/crds/" >/dev/null
# Polled: `kubectl wait` fails at once on a CRD that has no status yet.
wait_until "$READY_TIMEOUT" kc wait --for=condition=Established --timeout=1s \
	crd/applications.argoproj.io crd/appprojects.argoproj.io crd/applicationsets.argoproj.io ||
	die "Argo CD's CRDs not Established after ${READY_TIMEOUT}s"
kc get namespace "$ARGOCD_NAMESPACE" >/dev/null 2>&1 || kc create namespace "$ARGOCD_NAMESPACE" >/dev/null
# Server-side apply under a manager of its own: keys others add to argocd-cm (config/argocd's
# health check) stay.
kc apply --server-side --force-conflicts --field-manager="$MANAGER" -n "$ARGOCD_NAMESPACE" -f "$BIN_DIR/config/" >/dev/null
kc apply --server-side --force-conflicts --field-manager="$MANAGER" -f - >/dev/null <<YAML
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: $ARGOCD_NAMESPACE
spec:
  sourceRepos: ["*"]
  destinations: [{server: "*", namespace: "*"}]
  clusterResourceWhitelist: [{group: "*", kind: "*"}]
YAML
log "Argo CD CRDs, namespace $ARGOCD_NAMESPACE, settings and the default project installed ($(elapsed))"

# --- processes ---------------------------------------------------------------------------------
# What upstream's Procfile sets for a local run: the API server of $KUBECONFIG stands for
# https://kubernetes.default.svc, GPG off, data dirs of our own instead of /app/config.
common_env=(
	KUBECONFIG="$KUBECONFIG"
	ARGOCD_FAKE_IN_CLUSTER=true
	ARGOCD_GPG_ENABLED=false
	ARGOCD_TLS_DATA_PATH="$ARGOCD_DIR/tls"
	ARGOCD_SSH_DATA_PATH="$ARGOCD_DIR/ssh"
	TMPDIR="$ARGOCD_DIR/tmp"
)
start_redis() {
	# A cache only: no persistence, loopback, its own port.
	launch redis redis-server --bind "$ARGOCD_HOST" --port "$ARGOCD_REDIS_PORT" \
		--save "" --appendonly no --dir "$ARGOCD_DIR/redis" --protected-mode yes
}
start_argocd-repo-server() {
	# The repo server runs git-verify-wrapper.sh on every manifest generation, GPG or not, and
	# kustomize for a kustomization.
	# shellcheck disable=SC2086
	launch argocd-repo-server "${common_env[@]}" PATH="$ARGOCD_DIR/bin:$BIN_DIR/hack:$PATH" \
		ARGOCD_GNUPGHOME="$ARGOCD_DIR/gpg/keys" ARGOCD_GPG_DATA_PATH="$ARGOCD_DIR/gpg/source" \
		ARGOCD_PLUGINSOCKFILEPATH="$ARGOCD_DIR/plugins" \
		"$BIN_DIR/argocd-repo-server" \
		--address "$ARGOCD_HOST" --port "$ARGOCD_REPO_SERVER_PORT" \
		--metrics-address "$ARGOCD_HOST" --metrics-port "$ARGOCD_REPO_SERVER_METRICS_PORT" \
		--redis "$ARGOCD_HOST:$ARGOCD_REDIS_PORT" --loglevel "$ARGOCD_LOG_LEVEL" \
		${ARGOCD_REPO_SERVER_ARGS:-}
}
start_argocd-application-controller() {
	# shellcheck disable=SC2086
	launch argocd-application-controller "${common_env[@]}" \
		"$BIN_DIR/argocd-application-controller" \
		--namespace "$ARGOCD_NAMESPACE" \
		--repo-server "$ARGOCD_HOST:$ARGOCD_REPO_SERVER_PORT" \
		--redis "$ARGOCD_HOST:$ARGOCD_REDIS_PORT" \
		--metrics-port "$ARGOCD_CONTROLLER_METRICS_PORT" \
		--app-resync "$ARGOCD_APP_RESYNC" --app-resync-jitter "$ARGOCD_APP_RESYNC_JITTER" --loglevel "$ARGOCD_LOG_LEVEL" \
		${ARGOCD_CONTROLLER_ARGS:-}
}

started=()
for p in redis $ARGOCD_PROCS; do start_proc "$p"; done

# Settings for tests: `source $CLUSTER_DIR/argocd/env`.
write_env "$ARGOCD_DIR/env" "settings of the Argo CD processes started by e2e/argocd/up.sh" \
	ARGOCD_BIN_DIR="$BIN_DIR" ARGOCD_CRDS_DIR="$BIN_DIR/crds" ARGOCD_NAMESPACE="$ARGOCD_NAMESPACE" \
	ARGOCD_DIR="$ARGOCD_DIR" ARGOCD_APP_RESYNC="$ARGOCD_APP_RESYNC" ARGOCD_APP_RESYNC_JITTER="$ARGOCD_APP_RESYNC_JITTER"
log "Argo CD up ($(elapsed); started: ${started[*]:-none}); settings: $ARGOCD_DIR/env"
