# shellcheck shell=bash
# Helpers shared by the scripts under e2e/ that run local processes (cluster, keda, flux).
# Source it; it defines functions only.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# apt_install WHY PACKAGE...: install Debian packages the scripts need (once; a no-op for the
# caller when they are present), or die saying WHY they are needed.
apt_install() {
	local why="$1"
	shift
	log "installing $* ($why)"
	command -v apt-get >/dev/null || die "$why needs the packages $*; install them"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >/dev/null ||
		die "apt-get install $* failed"
}

# Alive and not a zombie (a zombie's parent may be slow to reap it).
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# wait_ready NAME LOG HEALTHY PID: poll `HEALTHY NAME` every 0.2 s until it succeeds. Dies with
# the tail of LOG when `PID NAME` finds the process gone, or after READY_TIMEOUT seconds.
wait_ready() {
	local name="$1" logf="$2" healthy_fn="$3" pid_fn="$4" deadline=$((SECONDS + READY_TIMEOUT))
	until "$healthy_fn" "$name"; do
		if ! "$pid_fn" "$name" >/dev/null; then
			tail -n 20 "$logf" >&2
			die "$name exited; log: $logf"
		fi
		[ "$SECONDS" -lt "$deadline" ] || die "$name not ready after ${READY_TIMEOUT}s; log: $logf"
		sleep 0.2
	done
}

# stop_process NAME PID PIDFILE [SIGNAL]: send SIGNAL (default TERM), SIGKILL after
# STOP_TIMEOUT seconds (default 5), then remove PIDFILE.
stop_process() {
	local name="$1" pid="$2" pidfile="$3" signal="${4:-TERM}" deadline
	kill "-$signal" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + ${STOP_TIMEOUT:-5}))
	while alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$name (pid $pid) still running after ${STOP_TIMEOUT:-5}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.1
	done
	rm -f "$pidfile"
	log "stopped $name (pid $pid)"
}
