#!/usr/bin/env bash
# End-to-end check of the local Argo CD setup: a bare git repo served by git-server.sh, an
# Application (automated sync, prune, self-heal) in namespace argocd, and a ConfigMap that must
# appear, reach Synced / Healthy, change and be pruned as commits are pushed, and come back when
# edited by hand. Prints how long each step took.
#
#   e2e/cluster/up.sh && e2e/argocd/up.sh && e2e/argocd/smoke.sh
#
# Needs the cluster and Argo CD running. Starts the git server if it is not running (and stops it
# again at the end). Cleans up its Application and ConfigMap either way.
# Env: CLUSTER_DIR, ARGOCD_DIR, KUBECONFIG, KUBECTL, ARGOCD_GIT_SERVER_PORT, SMOKE_TIMEOUT
# (default 60 s a step).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-60}"
NS=$ARGOCD_NAMESPACE
NAME=argocd-smoke
CM=argocd-smoke-cm
CM_NS=default
use_cluster
for p in redis $ARGOCD_PROCS; do proc_pid "$p" >/dev/null || die "$p is not running: run e2e/argocd/up.sh"; done

# wait_for <description> <command...>: wait up to SMOKE_TIMEOUT; logs the time it took.
wait_for() {
	local what="$1" t0
	shift
	t0="$(now_ms)"
	if ! wait_until "$SMOKE_TIMEOUT" "$@"; then
		kc -n "$NS" get application "$NAME" -o jsonpath='{.status.sync}{"\n"}{.status.health}{"\n"}{.status.conditions}{"\n"}{.status.operationState.message}{"\n"}' >&2 || true
		die "timed out after ${SMOKE_TIMEOUT}s: $what"
	fi
	log "$what: $(since "$t0")"
}
cm_value() { [ "$(kc -n "$CM_NS" get configmap "$CM" -o jsonpath='{.data.greeting}')" = "$1" ]; }
cm_gone() { ! kc -n "$CM_NS" get configmap "$CM" >/dev/null 2>&1; }
# synced_healthy [REVISION]: the Application is Synced (to REVISION) and Healthy.
synced_healthy() {
	local got
	got="$(kc -n "$NS" get application "$NAME" -o jsonpath='{.status.sync.status}/{.status.health.status}/{.status.sync.revision}')"
	[[ "$got" == Synced/Healthy/"${1:-}"* ]]
}
# refresh: what `argocd app get --refresh` does: the repo server's 3-minute revision cache skipped.
refresh() { kc -n "$NS" annotate --overwrite application "$NAME" argocd.argoproj.io/refresh=normal >/dev/null; }

work="$(mktemp -d)"
started_git=0
cleanup() {
	set +e
	kc -n "$NS" delete application "$NAME" --ignore-not-found --wait=true --timeout=30s >/dev/null
	kc -n "$CM_NS" delete configmap "$CM" "$CM-keep" --ignore-not-found >/dev/null
	[ "$started_git" = 0 ] || argocd_git_server stop
	rm -rf "$work"
}
trap cleanup EXIT

# --- git repo ----------------------------------------------------------------------------------
if url="$(argocd_git_server status)"; then
	root="$(cat "$ARGOCD_DIR/git-server.root")"
else
	root="$ARGOCD_DIR/git"
	url="$(argocd_git_server start "$root")"
	started_git=1
fi
rm -rf "${root:?}/$NAME.git"
git init -q --bare -b main "$root/$NAME.git"
git clone -q "$url/$NAME.git" "$work/wc" 2>/dev/null
g() { git -C "$work/wc" -c user.name=smoke -c user.email=smoke@example.invalid "$@"; }
head_rev() { g rev-parse HEAD; }
write_cm() {
	mkdir -p "$work/wc/apps"
	cat >"$work/wc/apps/configmap.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: $CM
  namespace: $CM_NS
data:
  greeting: "$1"
YAML
}
write_cm hello
# A second object that stays: automated sync refuses to prune an Application down to nothing
# (unless `allowEmpty: true`).
cat >"$work/wc/apps/keep.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: $CM-keep
  namespace: $CM_NS
data:
  why: "automated sync does not prune the last object"
YAML
g add -A
g commit -qm "add $CM"
g push -q origin HEAD:main

# --- the Application ---------------------------------------------------------------------------
t0="$(now_ms)"
kc apply -f - >/dev/null <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $NAME
  namespace: $NS
spec:
  project: default
  source:
    repoURL: $url/$NAME.git
    targetRevision: main
    path: apps
  destination:
    server: https://kubernetes.default.svc
    namespace: $CM_NS
  syncPolicy:
    automated: {prune: true, selfHeal: true}
YAML
wait_for "ConfigMap created (greeting=hello)" cm_value hello
wait_for "Application Synced / Healthy at $(head_rev | cut -c1-7)" synced_healthy "$(head_rev)"
log "first sync, from apply: $(since "$t0")"

# --- change, pushed; refresh ---------------------------------------------------------------------
write_cm changed
g commit -qam "change $CM"
g push -q origin HEAD:main
refresh
wait_for "ConfigMap updated after push + refresh (greeting=changed)" cm_value changed
wait_for "Application Synced / Healthy at $(head_rev | cut -c1-7)" synced_healthy "$(head_rev)"

# --- hand edit -> self-heal ----------------------------------------------------------------------
kc -n "$CM_NS" patch configmap "$CM" --type merge -p '{"data":{"greeting":"by hand"}}' >/dev/null
wait_for "hand edit reverted by self-heal (greeting=changed)" cm_value changed

# --- removal -> prune ------------------------------------------------------------------------------
g rm -q apps/configmap.yaml
g commit -qm "remove $CM"
g push -q origin HEAD:main
refresh
wait_for "ConfigMap pruned after push + refresh" cm_gone
wait_for "Application Synced / Healthy at $(head_rev | cut -c1-7)" synced_healthy "$(head_rev)"

log "smoke test passed (last revision $(head_rev | cut -c1-7), $(elapsed))"
