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
if [ "${#procs[@]}" -eq 0 ]; then
	# Reverse start order: clients before the apiserver, etcd last.
	procs=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
elif [ "$purge" = 1 ]; then
	die "--purge stops everything; do not name components with it"
fi

# Alive and not a zombie (a zombie's parent may be slow to reap it).
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

for p in "${procs[@]}"; do
	if ! pid="$(proc_pid "$p")"; then
		rm -f "$(pid_file "$p")"
		continue
	fi
	kill "-$signal" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$p (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.1
	done
	rm -f "$(pid_file "$p")"
	log "stopped $p (pid $pid)"
done

if [ "$purge" = 1 ] && [ -d "$CLUSTER_DIR" ]; then
	rm -rf "$CLUSTER_DIR"
	log "deleted $CLUSTER_DIR"
fi
