#!/usr/bin/env bash
# Stop what up.sh started, by pid file (never by process name).
#
#   e2e/cluster/down.sh                    # stop every component (state dir is kept)
#   e2e/cluster/down.sh apiserver etcd     # stop only these (fault tests; up.sh restarts them)
#   e2e/cluster/down.sh --purge            # stop everything and delete $CLUSTER_DIR
#
# Idempotent. STOP_TIMEOUT (default 5s; nothing here needs a graceful stop) before SIGKILL; --kill sends SIGKILL at once.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_TIMEOUT="${STOP_TIMEOUT:-5}"
load_ports # describe names each component's ports
purge=0
signal=TERM
procs=()
for a in "$@"; do
	case "$a" in
	--purge) purge=1 ;;
	--kill) signal=KILL ;;
	*)
		p="$(canonical_proc "$a")" || die "unknown component '$a' (known: $CLUSTER_PROCS)"
		procs+=("$p")
		;;
	esac
done
all=0
if [ "${#procs[@]}" -eq 0 ]; then
	all=1
	# Reverse start order: the node, then clients before the apiserver, etcd last.
	read -r -a procs <<<"$(tac -s ' ' <<<"$CLUSTER_PROCS " | xargs)"
elif [ "$purge" = 1 ]; then
	die "--purge stops everything; do not name components with it"
fi

for p in "${procs[@]}"; do
	pid="$(proc_pid "$p")" || pid=""
	stop_proc "$p" "$signal"
	# The relay forks one child per connection, in its own process group.
	[ "$p" != apiserver-relay ] || [ -z "$pid" ] || kill -KILL -- "-$pid" 2>/dev/null || true
done

# With the whole cluster stopped, the real node's containers, mounts, cgroups, packet filter
# rules and bridge go too (the pods come back from etcd at the next up.sh). Not for a cluster
# without the node (the bench's): the node is the one of another cluster on this machine.
if [ "$all" = 1 ] && [ "$CLUSTER_REAL_NODE" = 1 ]; then
	node_teardown
fi

if [ "$purge" = 1 ] && [ -d "$CLUSTER_DIR" ]; then
	rm -rf "$CLUSTER_DIR"
	log "deleted $CLUSTER_DIR"
fi
