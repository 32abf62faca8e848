#!/bin/bash
# tempest-identity.sh - run Tempest's identity tests against a Kumo of its own.
#
# Starts `kumo identity` from a fresh state directory (SQLite, bcrypt cost 4), on the
# standard ports 5000/35357 when they are free, else on free loopback ports
# (so a `make up` cloud can keep running), bootstraps it, writes a Tempest
# workspace with the shared harness (../shared/harness: tempest-init.sh), and
# runs:
#   TEMPEST_SCOPE=interop (default)  the identity rows of the Interop 2020.06
#                                    guideline, through run-interop.sh
#   TEMPEST_SCOPE=all                every tempest.api.identity test, through
#                                    run-tempest.sh (informational: needs
#                                    features Kumo may not have yet)
# Only Identity is enabled in tempest.conf; nova/glance/cinder/swift are
# declared unavailable so no test looks for them.  The last lines are the
# harness summary, ending in "N passed, N failed, N skipped".
#
# Exit: 0 all passed, 1 a test failed or kumo did not exit cleanly (ASan),
# 2 setup error, 77 harness not found (skipped).
# Environment: KUMO_BIN [build/kumo], KUMO_HARNESS [<repo>/../shared/harness],
# TEMPEST_WORKDIR [<repo>/build-tempest], TEMPEST_SCOPE, TEMPEST_CONCURRENCY [2],
# KUMO_TEST_DB_URL (use this database instead of SQLite).
set -uo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

HARNESS="${KUMO_HARNESS:-$KUMO_ROOT/../shared/harness}"
WORK="${TEMPEST_WORKDIR:-$KUMO_ROOT/build-tempest}"
SCOPE="${TEMPEST_SCOPE:-interop}"
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"

if [ ! -x "$HARNESS/tempest-init.sh" ] || [ ! -x "$HARNESS/run-interop.sh" ]; then
	say "tempest-identity: SKIPPED: no Tempest harness at $HARNESS (set KUMO_HARNESS)"
	exit 77
fi
[ -x /usr/bin/tempest ] || { say "tempest-identity: /usr/bin/tempest missing (tools/install-deps.sh)" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null || exit 2
	ninja -C build kumo || exit 2
	BIN="$KUMO_ROOT/build/kumo"
fi

# ---- a fresh kumo
if port_busy 5000 || port_busy 35357; then
	PORT=$(free_port); APORT=$(free_port)
	say "tempest-identity: port 5000 or 35357 busy, using $PORT/$APORT"
else
	PORT=5000; APORT=35357
fi
STATE="$WORK/state"
rm -rf "$STATE"
mkdir -p "$STATE" "$WORK"
chmod 700 "$STATE"
CONF="$STATE/kumo.conf"
LOG="$WORK/kumo.log"
ADMIN_PW="tempest-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$CONF" <<EOF
[DEFAULT]
state_dir = $STATE
bind_host = 127.0.0.1
debug = true

[identity]
connection = ${KUMO_TEST_DB_URL:-sqlite:///$STATE/identity.db}
port = $PORT
admin_port = $APORT
key_repository = $STATE/fernet-keys
password_hash_rounds = 4
EOF
kumo() { "$BIN" --config "$CONF" "$@"; }
URL="http://127.0.0.1:$PORT/v3"
kumo manage db-sync >> "$LOG" 2>&1 || { say "db-sync failed, see $LOG"; exit 2; }
kumo manage fernet-setup >> "$LOG" 2>&1 || { say "fernet-setup failed, see $LOG"; exit 2; }
kumo manage bootstrap --bootstrap-password "$ADMIN_PW" --bootstrap-region-id RegionOne \
	--bootstrap-public-url "$URL/" --bootstrap-internal-url "$URL/" \
	--bootstrap-admin-url "http://127.0.0.1:$APORT/v3/" >> "$LOG" 2>&1 ||
	{ say "bootstrap failed, see $LOG"; exit 2; }

"$BIN" --config "$CONF" identity >> "$LOG" 2>&1 < /dev/null &
KPID=$!
cleanup() {
	if [ -n "${KPID:-}" ] && pid_alive "$KPID"; then
		kill -TERM "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null
	fi
}
trap cleanup EXIT
if ! wait_http "$URL" 60 "$KPID"; then
	say "tempest-identity: kumo did not answer on $URL; last lines of $LOG:"
	tail -n 30 "$LOG"
	exit 2
fi
say "tempest-identity: kumo pid $KPID on $URL (log $LOG)"

# roles the dynamic credentials expect (tempest creates "member" itself only on
# some paths; see ../shared/harness/TEMPEST-NEEDS.md §1.1)
AUTH=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$ADMIN_PW")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH" "$URL/auth/tokens" |
	awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || { say "tempest-identity: cannot get an admin token from $URL"; exit 2; }
for role in member reader; do
	n=$(curl -s -H "X-Auth-Token: $TOKEN" "$URL/roles?name=$role" | jq '.roles | length' 2>/dev/null)
	[ "${n:-0}" -gt 0 ] || curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/json' -d "{\"role\":{\"name\":\"$role\"}}" "$URL/roles"
done

# ---- the tempest workspace: only Identity is available
WS="$WORK/ws"
OVR="$WORK/tempest-overrides.ini"
cat > "$OVR" <<EOF
[service_available]
nova = false
glance = false
cinder = false
swift = false

[identity-feature-enabled]
access_rules = true
EOF
export TEMPEST_ADMIN_PASSWORD="$ADMIN_PW" TEMPEST_AUTH_URL="$URL" TEMPEST_REGION=RegionOne
export TEMPEST_IMAGE_REF=none TEMPEST_FLAVOR_REF=none-1 TEMPEST_FLAVOR_REF_ALT=none-2
export TEMPEST_PUBLIC_NETWORK_ID=none TEMPEST_CREATE_ISOLATED_NETWORKS=false
export TEMPEST_SWIFT=false TEMPEST_CONF_OVERRIDES="$OVR"
"$HARNESS/tempest-init.sh" "$WS" || { say "tempest-init.sh failed"; exit 2; }
# tempest-init.sh insists on neutron = true (interop needs it); with Identity
# alone it makes every class teardown look for a "network" endpoint to clean
# security groups up, so it is switched off here, after init's sanity check.
sed -i '/^\[service_available\]/,/^\[/ s/^neutron = true$/neutron = false/' "$WS/etc/tempest.conf"
grep -q '^neutron = false$' "$WS/etc/tempest.conf" || { say "cannot disable neutron in tempest.conf"; exit 2; }

tempest_run_and_stop identity
