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
load_ports # describe names each process's ports
# Everything a name may stand for: stopping what is not running is a no-op.
CLUSTER_REAL_NODE=1 keda_procs_from_args "$@"
[ "${#procs[@]}" -gt 0 ] || read -r -a procs <<<"$KEDA_PROCS"

for p in "${procs[@]}"; do stop_proc "$p"; done
