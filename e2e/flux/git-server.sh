#!/usr/bin/env bash
# Serve the bare git repositories under a directory over smart HTTP on 127.0.0.1, for Flux's
# source-controller to fetch from (go-git needs smart HTTP; a static file server is not enough).
#
#   e2e/flux/git-server.sh start <repo-root-dir>  # idempotent; prints the base URL
#   e2e/flux/git-server.sh stop
#   e2e/flux/git-server.sh status                 # prints the base URL if running, else exit 1
#
# A repo <repo-root-dir>/<name>.git is at http://127.0.0.1:$GIT_SERVER_PORT/<name>.git (clone,
# fetch and push; no auth). The server is git-http-server.py: `git http-backend` as CGI behind
# Python's http.server, receive-pack enabled. Pid file and log: $CLUSTER_DIR/flux/git-server.{pid,log}.
# Env: GIT_SERVER_PORT (default 18300), CLUSTER_DIR.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${READY_TIMEOUT:-30}"
url="$(git_server_url)"
start_git-server() {
	launch git-server python3 "$FLUX_SCRIPTS/git-http-server.py" --root "$root" --host "$FLUX_HOST" --port "$GIT_SERVER_PORT"
}

case "${1:-}" in
start)
	[ -n "${2:-}" ] || die "usage: $0 start <repo-root-dir>"
	command -v git >/dev/null || die "git is not installed"
	command -v python3 >/dev/null || die "python3 is not installed"
	mkdir -p "$2" "$FLUX_DIR"
	root="$(cd "$2" && pwd)"
	if pid="$(proc_pid git-server)"; then
		running_root="$(cat "$FLUX_DIR/git-server.root" 2>/dev/null || true)"
		[ "$running_root" = "$root" ] || die "git server (pid $pid) already serves $running_root; stop it first"
		echo "$url"
		exit 0
	fi
	echo "$root" >"$FLUX_DIR/git-server.root"
	start_proc git-server
	log "git server serving $root on $url/"
	echo "$url"
	;;
stop)
	stop_proc git-server
	rm -f "$FLUX_DIR/git-server.root"
	;;
status)
	proc_pid git-server >/dev/null || exit 1
	echo "$url"
	;;
*) die "usage: $0 start <repo-root-dir> | stop | status" ;;
esac
