#!/usr/bin/env bash
# The loopback git server of e2e/flux (git-server.sh), as Argo CD's own instance: its own port
# (ARGOCD_GIT_SERVER_PORT, default 18430) and its pid file, log and root under
# $CLUSTER_DIR/argocd/, so it runs beside Flux's.
#
#   e2e/argocd/git-server.sh start <repo-root-dir>  # idempotent; prints the base URL
#   e2e/argocd/git-server.sh stop
#   e2e/argocd/git-server.sh status                 # prints the base URL if running, else exit 1
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

argocd_git_server "$@"
