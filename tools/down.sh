#!/bin/bash
# down.sh - `make down`: stop the Kumo started by `make up` (SIGTERM, then wait).
# A stale pid file (process gone, or the pid now belongs to another program)
# is removed. Environment: KUMO_STATE_DIR [/var/lib/kumo], DOWN_TIMEOUT [30].
set -euo pipefail
. "$(dirname "$0")/kumo-lib.sh"

PIDFILE="${KUMO_STATE_DIR:-/var/lib/kumo}/kumo.pid"
if [ ! -f "$PIDFILE" ]; then
	say "kumo is not running (no $PIDFILE)"
	exit 0
fi
pid=$(live_kumo_pid "$PIDFILE")
if [ -z "$pid" ]; then
	say "removing stale pid file $PIDFILE (kumo was not running)"
	rm -f "$PIDFILE"
	exit 0
fi
say "stopping kumo (pid $pid)"
rc=0
stop_pid "$pid" "${DOWN_TIMEOUT:-30}" || rc=1
rm -f "$PIDFILE"
[ $rc = 0 ] && say "kumo stopped" || say "kumo killed (it did not stop cleanly)"
exit $rc
