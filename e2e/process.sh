# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings here are used by the scripts that source this file
# Helpers shared by the scripts under e2e/: logging, timing and waiting, kubectl, and the local
# processes of the three stacks (e2e/cluster, e2e/keda, e2e/flux) with their ports. Source it.
#
# A stack's lib.sh sources this file and describes its processes to the helpers below:
#   PID_DIR, LOG_DIR  where pid_file and log_file keep a process's pid and output
#   PORT_VARS         its port variables; `default_port VAR` gives each one's default, and
#   PORTS_FILE        (optional) records the ports in use, so that a restart keeps them
#   describe NAME     sets, for one process: bin (the executable's name, or the script an
#                     interpreter runs), ports (those that must be free before it starts), and
#                     health (an http(s) URL that answers 2xx when it is healthy,
#                     tcp://127.0.0.1:PORT for an open port, or a command)
#   start_NAME        (in its up.sh) launches it
# The port variables must be set (load_ports or choose_ports) before the process helpers run.
# One script works with one stack.

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"
# The local cluster's state (pki, logs, pid files, kubeconfig); KEDA's and Flux's live inside.
CLUSTER_DIR="${CLUSTER_DIR:-$REPO_ROOT/.cache/cluster}"
# What the scripts fetch and build, kept across runs and state dirs; the builds of the pinned Go
# modules in bin/, one directory per component and version.
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator"
DEFAULT_BIN_ROOT="$CACHE_ROOT/bin"

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

# one_of WORD WORD...: the first word is one of the others.
one_of() { [[ " ${*:2} " == *" $1 "* ]]; }

# --- time and waiting --------------------------------------------------------------------------
now_ms() { date +%s%3N; }
T0="$(now_ms)"
# since MS: the time since MS (a now_ms), e.g. 1234ms.
since() { echo "$(($(now_ms) - $1))ms"; }
# elapsed: the time since the script started.
elapsed() { since "$T0"; }

# wait_until SECONDS COMMAND...: run COMMAND (its output discarded) every POLL seconds (default
# 0.2) until it succeeds; status 1 when SECONDS have passed.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep "${POLL:-0.2}"
	done
}

# --- the local cluster ---------------------------------------------------------------------------
# cluster_env HOW: the local cluster's settings (KUBECONFIG, KUBECTL, ports, the real node), from
# the env file e2e/cluster/up.sh writes; without one, die saying HOW to start the cluster.
cluster_env() {
	[ -f "$CLUSTER_DIR/env" ] || die "no $CLUSTER_DIR/env: start the cluster with $1"
	# shellcheck disable=SC1091
	source "$CLUSTER_DIR/env"
}
# kc ARG...: kubectl ($KUBECTL) with $KUBECONFIG.
kc() { "$KUBECTL" --kubeconfig="$KUBECONFIG" "$@"; }

# write_env FILE WHAT NAME=VALUE...: FILE, to be sourced: a comment saying WHAT it holds, then
# `export NAME="VALUE"` for each pair and `export VAR=PORT` for each of PORT_VARS. Written aside
# and renamed, so that a reader never sees half of it.
write_env() {
	local file="$1" what="$2" pair v
	shift 2
	{
		echo "# source this file: $what"
		for pair; do echo "export ${pair%%=*}=\"${pair#*=}\""; done
		for v in $PORT_VARS; do echo "export $v=${!v}"; done
	} >"$file.tmp.$$"
	mv "$file.tmp.$$" "$file"
}

# --- ports (every listener binds 127.0.0.1, or every address) ------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free() { ! port_busy "$1"; }
# free_port PORT: PORT, or the first one above it that nothing listens on.
free_port() {
	local port="$1"
	while port_busy "$port"; do port=$((port + 1)); done
	echo "$port"
}
# load_ports: set each of PORT_VARS: from the environment, else from PORTS_FILE, else its default.
load_ports() {
	local v val
	for v in $PORT_VARS; do
		val="${!v:-}"
		if [ -z "$val" ] && [ -f "${PORTS_FILE:-}" ]; then
			val="$(sed -n "s/^$v=//p" "$PORTS_FILE")"
		fi
		printf -v "$v" '%s' "${val:-$(default_port "$v")}"
	done
}
# choose_ports: load_ports, on the first start (no PORTS_FILE yet) moving each default that the
# environment does not set past the ports already taken; then record them in PORTS_FILE.
choose_ports() {
	local v
	if [ ! -f "$PORTS_FILE" ]; then
		for v in $PORT_VARS; do
			[ -n "${!v:-}" ] || printf -v "$v" '%s' "$(free_port "$(default_port "$v")")"
		done
	fi
	load_ports
	for v in $PORT_VARS; do echo "$v=${!v}"; done >"$PORTS_FILE"
}
# port_var PORT: the variable that set PORT.
port_var() {
	local v
	for v in $PORT_VARS; do [ "${!v}" != "$1" ] || echo "$v"; done | head -1
}

# --- processes -----------------------------------------------------------------------------------
pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# Alive and not a zombie (a zombie's parent may be slow to reap it).
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# proc_pid NAME: the pid of NAME when it runs, or nothing and status 1.
proc_pid() {
	local pid exe bin ports health
	pid="$(cat "$(pid_file "$1")" 2>/dev/null)" || return 1
	[ -n "$pid" ] && alive "$pid" || return 1
	# Guard against a recycled pid: the process must run NAME's executable, or an interpreter
	# NAME's script (its first argument).
	describe "$1"
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	if [ "$(basename "${exe% (deleted)}")" != "$bin" ]; then
		[ "$(basename "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 2p)")" = "$bin" ] || return 1
	fi
	echo "$pid"
}

# launch NAME [VAR=VALUE...] COMMAND [ARG...]: start COMMAND, with the VARs in its environment,
# appending its output to log_file NAME and its pid to pid_file NAME. setsid: its own session,
# so it outlives this shell and only down.sh stops it. LAUNCH_WRAPPER (an array, optional) goes
# in front: commands that exec the rest in turn, so that the pid is COMMAND's.
launch() {
	local name="$1" logf
	shift
	logf="$(log_file "$name")"
	echo "--- $(date -Is) $*" >>"$logf"
	setsid ${LAUNCH_WRAPPER[@]+"${LAUNCH_WRAPPER[@]}"} env "$@" >>"$logf" 2>&1 </dev/null &
	echo $! >"$(pid_file "$name")"
	# Until the exec chain reaches COMMAND, proc_pid would take it for another process.
	POLL=0.02 wait_until 5 proc_pid "$name" || true
}

# healthy NAME: NAME's health check (describe) passes.
healthy() {
	local bin ports health
	describe "$1"
	case "$health" in
	http://* | https://*) curl -fsk --max-time 2 -o /dev/null "$health" 2>/dev/null ;;
	tcp://*) port_busy "${health##*:}" ;;
	*) "$health" ;;
	esac
}

# wait_healthy NAME: poll healthy NAME every 0.2 s. Dies with the tail of its log when NAME
# exits, or after READY_TIMEOUT seconds.
wait_healthy() {
	local deadline=$((SECONDS + READY_TIMEOUT)) logf
	logf="$(log_file "$1")"
	until healthy "$1"; do
		if ! proc_pid "$1" >/dev/null; then
			tail -n 20 "$logf" >&2
			die "$1 exited; log: $logf"
		fi
		[ "$SECONDS" -lt "$deadline" ] || die "$1 not ready after ${READY_TIMEOUT}s; log: $logf"
		sleep 0.2
	done
}

# start_proc NAME: NAME running and healthy. Unless it runs already, start it (start_NAME) once
# its ports are free, and add it to the array `started`. A process stopped a moment ago (down.sh,
# a restart) may still hold a port: a Go process whose main thread has exited shows as a zombie
# while its other threads still close sockets; so each port gets 10 s.
start_proc() {
	local bin ports health port
	if proc_pid "$1" >/dev/null; then
		healthy "$1" || wait_healthy "$1"
		return 0
	fi
	rm -f "$(pid_file "$1")"
	describe "$1"
	for port in $ports; do
		wait_until 10 port_free "$port" ||
			die "port $port for $1 is taken by another process (${PORTS_FILE:+ports: $PORTS_FILE; }override with $(port_var "$port"))"
	done
	"start_$1"
	wait_healthy "$1"
	started+=("$1")
	log "$1 ready (pid $(cat "$(pid_file "$1")"), $(elapsed))"
}

# stop_proc NAME [SIGNAL]: when NAME runs, send it SIGNAL (default TERM), and SIGKILL after
# STOP_TIMEOUT seconds (default 5); then forget its pid file.
stop_proc() {
	local name="$1" signal="${2:-TERM}" pid deadline
	if pid="$(proc_pid "$name")"; then
		kill "-$signal" "$pid" 2>/dev/null || true
		deadline=$((SECONDS + ${STOP_TIMEOUT:-5}))
		while alive "$pid"; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				log "$name (pid $pid) still running after ${STOP_TIMEOUT:-5}s: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.1
		done
		log "stopped $name (pid $pid)"
	fi
	rm -f "$(pid_file "$name")"
}
