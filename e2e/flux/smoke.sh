#!/usr/bin/env bash
# End-to-end check of the local Flux setup: a bare git repo served by git-server.sh, a
# GitRepository + Kustomization (prune) in flux-system, and a ConfigMap that must appear, change
# and be pruned as commits are pushed. Prints how long each step took.
#
#   e2e/cluster/up.sh && e2e/flux/up.sh && e2e/flux/smoke.sh
#
# Needs the cluster and the Flux controllers running. Starts the git server if it is not running
# (and stops it again at the end). Cleans up its Flux objects and ConfigMap either way.
# Env: CLUSTER_DIR, FLUX_DIR, KUBECONFIG, KUBECTL, GIT_SERVER_PORT, SMOKE_TIMEOUT (default 60 s a step).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-60}"
NS=flux-system
NAME=flux-smoke
CM=flux-smoke-cm
CM_NS=default
use_cluster
for c in $FLUX_CONTROLLERS; do proc_pid "$c" >/dev/null || die "$c is not running: run e2e/flux/up.sh"; done

# wait_for <description> <command...>: wait up to SMOKE_TIMEOUT; logs the time it took.
wait_for() {
	local what="$1" t0
	shift
	t0="$(now_ms)"
	if ! wait_until "$SMOKE_TIMEOUT" "$@"; then
		kc -n "$NS" get gitrepository,kustomization "$NAME" -o wide >&2 || true
		die "timed out after ${SMOKE_TIMEOUT}s: $what"
	fi
	log "$what: $(since "$t0")"
}
cm_value() { [ "$(kc -n "$CM_NS" get configmap "$CM" -o jsonpath='{.data.greeting}')" = "$1" ]; }
cm_gone() { ! kc -n "$CM_NS" get configmap "$CM" >/dev/null 2>&1; }

work="$(mktemp -d)"
started_git=0
cleanup() {
	set +e
	kc -n "$NS" delete kustomization "$NAME" --ignore-not-found --wait=true --timeout=30s >/dev/null
	kc -n "$NS" delete gitrepository "$NAME" --ignore-not-found --wait=true --timeout=30s >/dev/null
	kc -n "$CM_NS" delete configmap "$CM" --ignore-not-found >/dev/null
	[ "$started_git" = 0 ] || "$FLUX_SCRIPTS/git-server.sh" stop
	rm -rf "$work"
}
trap cleanup EXIT

# --- git repo ----------------------------------------------------------------------------------
if url="$("$FLUX_SCRIPTS/git-server.sh" status)"; then
	root="$(cat "$FLUX_DIR/git-server.root")"
else
	root="$FLUX_DIR/git"
	url="$("$FLUX_SCRIPTS/git-server.sh" start "$root")"
	started_git=1
fi
rm -rf "$root/$NAME.git"
git init -q --bare -b main "$root/$NAME.git"
git clone -q "$url/$NAME.git" "$work/wc" 2>/dev/null
g() { git -C "$work/wc" -c user.name=smoke -c user.email=smoke@example.invalid "$@"; }
write_cm() {
	mkdir -p "$work/wc/apps"
	cat >"$work/wc/apps/configmap.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $CM
  namespace: $CM_NS
data:
  greeting: "$1"
EOF
}
write_cm hello
echo "keeps apps/ non-empty after the ConfigMap is removed" >"$work/wc/apps/README.md"
g add -A
g commit -qm "add $CM"
g push -q origin HEAD:main

# --- Flux objects --------------------------------------------------------------------------------
t0="$(now_ms)"
kc apply -f - >/dev/null <<EOF
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: $NAME
  namespace: $NS
spec:
  url: $url/$NAME.git
  interval: 10s
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: $NAME
  namespace: $NS
spec:
  interval: 10s
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: $NAME
EOF
wait_for "GitRepository Ready" kc -n "$NS" wait --for=condition=Ready --timeout=1s gitrepository "$NAME"
wait_for "ConfigMap created (greeting=hello)" cm_value hello
log "first sync, from apply: $(since "$t0")"
wait_for "Kustomization Ready" kc -n "$NS" wait --for=condition=Ready --timeout=1s kustomization "$NAME"

# --- change (picked up by the 10 s intervals) ---------------------------------------------------
write_cm changed
g commit -qam "change $CM"
g push -q origin HEAD:main
wait_for "ConfigMap updated after push (greeting=changed)" cm_value changed

# --- change, nudged with the reconcile.fluxcd.io/requestedAt annotation (what `flux reconcile` does)
write_cm nudged
g commit -qam "change $CM again"
g push -q origin HEAD:main
now="$(date +%s%N)"
kc -n "$NS" annotate --overwrite gitrepository "$NAME" "reconcile.fluxcd.io/requestedAt=$now" >/dev/null
kc -n "$NS" annotate --overwrite kustomization "$NAME" "reconcile.fluxcd.io/requestedAt=$now" >/dev/null
wait_for "ConfigMap updated after push + requestedAt (greeting=nudged)" cm_value nudged

# --- removal -> prune ------------------------------------------------------------------------------
g rm -q apps/configmap.yaml
g commit -qm "remove $CM"
g push -q origin HEAD:main
wait_for "ConfigMap pruned after push" cm_gone

rev="$(kc -n "$NS" get gitrepository "$NAME" -o jsonpath='{.status.artifact.revision}')"
log "smoke test passed (last revision $rev)"
