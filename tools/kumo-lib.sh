# kumo-lib.sh - shell helpers shared by up.sh, down.sh, check.sh, tempest-identity.sh
# and bench/identity/run.sh (sourced, not run).

KUMO_ROOT="${KUMO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PY=/usr/bin/python3      # Debian's python: the one with openstackclient, tempest, pytest

say() { printf '%s\n' "$*"; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# true when something accepts TCP connections on 127.0.0.1:PORT
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# a free TCP port on loopback (the kernel picks it)
free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# HTTP status of GET URL ("000" when nothing answers)
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# wait until GET URL answers 200 or 300; returns 1 after TIMEOUT seconds or when PID died
wait_http() { # url timeout_s [pid]
	local url=$1 to=${2:-30} pid=${3:-} end c
	end=$(( $(date +%s) + to ))
	while :; do
		c=$(http_code "$url")
		case "$c" in 200|300) return 0 ;; esac
		if [ -n "$pid" ] && ! pid_alive "$pid"; then return 1; fi
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# pid from a pid file when that process is alive and is a kumo, else empty
live_kumo_pid() { # pidfile
	local pid
	[ -f "$1" ] || return 0
	pid=$(tr -dc 0-9 < "$1")
	[ -n "$pid" ] || return 0
	pid_alive "$pid" || return 0
	case "$(cat "/proc/$pid/comm" 2>/dev/null)" in kumo*) echo "$pid" ;; esac
}

# alive and not a zombie (a zombie is dead; in containers PID 1 may never reap it)
pid_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ "$st" != Z ]
}

# SIGTERM a pid and wait up to TIMEOUT seconds (then SIGKILL); 0 if it was stopped cleanly
stop_pid() { # pid [timeout_s]
	local pid=$1 to=${2:-20} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < to * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	say "pid $pid did not stop within ${to}s after SIGTERM; sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}

# tempest_run_and_stop SVC: the end of tools/tempest-<SVC>.sh. Runs Tempest's
# tests of tempest.api.<SVC> for $SCOPE (interop: the Interop 2020.06 rows;
# all: every test; anything else: a regex) in workspace $WS with the harness
# $HARNESS, then stops the kumo $KPID, which must exit 0 (under ASan a leak or
# an error makes it fail; see $LOG).  Exits the script with the result.
tempest_run_and_stop() {
	local svc=$1 t0 trc krc
	t0=$(date +%s)
	case "$SCOPE" in
	interop)
		grep -P "\ttempest\\.api\\.$svc\\." "$HARNESS/data/interop-2020.06-tests.tsv" \
			> "$WORK/$svc-tests.tsv"
		INTEROP_TESTS="$WORK/$svc-tests.tsv" "$HARNESS/run-interop.sh" "$WS"
		trc=$? ;;
	all)
		"$HARNESS/run-tempest.sh" "$WS" "^tempest\\.api\\.$svc\\."
		trc=$? ;;
	*)
		"$HARNESS/run-tempest.sh" "$WS" "$SCOPE"
		trc=$? ;;
	esac
	say "tempest-$svc: tempest took $(( $(date +%s) - t0 )) s, exit $trc; workspace $WS"
	kill -TERM "$KPID" 2>/dev/null
	wait "$KPID"
	krc=$?
	KPID=
	if [ "$krc" -ne 0 ]; then
		say "tempest-$svc: kumo exited with status $krc after SIGTERM; see $LOG"
		grep -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$LOG" | head -n 5
		exit 1
	fi
	[ "$trc" -eq 0 ] && exit 0
	exit 1
}
