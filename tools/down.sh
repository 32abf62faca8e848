#!/bin/bash
# down.sh - `make down`: stop the Kumo started by `make up` (SIGTERM, then wait).
# A stale pid file (process gone, or the pid now belongs to another program)
# is removed. Then the data plane the network agents left up (they do, so that
# traffic survives a restart) is removed with tools/net-cleanup.sh, and the
# network world of tools/net-setup.sh (the physnets' veth pairs and the upstream
# namespaces) with it; the next `make up` rebuilds all of it from the database.
# Environment: KUMO_STATE_DIR [/var/lib/kumo], DOWN_TIMEOUT [30].
set -euo pipefail
. "$(dirname "$0")/kumo-lib.sh"

STATE="${KUMO_STATE_DIR:-/var/lib/kumo}"
PIDFILE="$STATE/kumo.pid"
net_down() {
	[ "$(id -u)" = 0 ] || return 0
	[ ! -f "$(dirname "$0")/net-cleanup.sh" ] || bash "$(dirname "$0")/net-cleanup.sh" "$STATE" || true
	bash "$(dirname "$0")/net-setup.sh" down || true
}
if [ ! -f "$PIDFILE" ]; then
	say "kumo is not running (no $PIDFILE)"
	net_down
	exit 0
fi
pid=$(live_kumo_pid "$PIDFILE")
if [ -z "$pid" ]; then
	say "removing stale pid file $PIDFILE (kumo was not running)"
	rm -f "$PIDFILE"
	net_down
	exit 0
fi
say "stopping kumo (pid $pid)"
rc=0
stop_pid "$pid" "${DOWN_TIMEOUT:-30}" || rc=1
rm -f "$PIDFILE"
net_down
[ $rc = 0 ] && say "kumo stopped" || say "kumo killed (it did not stop cleanly)"
exit $rc
