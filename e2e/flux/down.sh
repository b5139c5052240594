#!/usr/bin/env bash
# Stop what e2e/flux/up.sh started, by pid file (never by process name).
#
#   e2e/flux/down.sh                      # stop both controllers (state, CRDs, objects are kept)
#   e2e/flux/down.sh kustomize-controller # stop only this one
#   e2e/flux/down.sh --all                # also stop the git server (git-server.sh stop)
#
# Idempotent. SIGTERM, SIGKILL after STOP_TIMEOUT (default 5 s).
# Flux objects carry finalizers: delete Kustomizations/GitRepositories *before* stopping the
# controllers, or they stay Terminating until the controllers run again.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

procs=()
git_server=0
for a in "$@"; do
	case "$a" in
	--all) git_server=1 ;;
	source-controller | kustomize-controller) procs+=("$a") ;;
	*) die "unknown argument '$a' (known: $FLUX_CONTROLLERS --all)" ;;
	esac
done
# Reverse start order.
[ "${#procs[@]}" -gt 0 ] || procs=(kustomize-controller source-controller)
for p in "${procs[@]}"; do stop_proc "$p"; done
[ "$git_server" = 0 ] || "$FLUX_SCRIPTS/git-server.sh" stop
