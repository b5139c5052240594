#!/usr/bin/env bash
# Stop what e2e/argocd/up.sh started, by pid file (never by process name).
#
#   e2e/argocd/down.sh          # the application controller, the repo server, Redis
#   e2e/argocd/down.sh --all    # also the git server (git-server.sh stop)
#
# Idempotent. SIGTERM, SIGKILL after STOP_TIMEOUT (default 5 s). CRDs, namespace argocd and its
# objects are left in the cluster. Applications carry no finalizer unless one is set
# (resources-finalizer.argocd.argoproj.io): delete such Applications *before* stopping.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

git_server=0
for a in "$@"; do
	case "$a" in
	--all) git_server=1 ;;
	*) die "unknown argument '$a' (known: --all)" ;;
	esac
done
# Reverse start order.
for p in argocd-application-controller argocd-repo-server redis; do stop_proc "$p"; done
[ "$git_server" = 0 ] || argocd_git_server stop
