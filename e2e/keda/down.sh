#!/usr/bin/env bash
# Stop what e2e/keda/up.sh started, by pid file (never by process name). CRDs, the `keda`
# namespace and $CLUSTER_DIR/keda (certs, logs, ports) are kept.
#
#   e2e/keda/down.sh                 # stop every KEDA process
#   e2e/keda/down.sh http-add-on     # stop only this one
#
# Idempotent. STOP_TIMEOUT (default 10s) before SIGKILL.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_TIMEOUT="${STOP_TIMEOUT:-10}"
procs=()
for a in "$@"; do
	p="$(keda_canonical_proc "$a")" || die "unknown component '$a' (known: operator http-add-on)"
	procs+=("$p")
done
[ "${#procs[@]}" -gt 0 ] || read -r -a procs <<<"$KEDA_PROCS"

# Alive and not a zombie.
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

for p in "${procs[@]}"; do
	if ! pid="$(keda_proc_pid "$p")"; then
		rm -f "$(keda_pid_file "$p")"
		continue
	fi
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$p (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.1
	done
	rm -f "$(keda_pid_file "$p")"
	log "stopped $p (pid $pid)"
done
