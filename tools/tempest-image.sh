#!/bin/bash
# tempest-image.sh - run Tempest's image tests against a Kumo of its own.
#
# Starts `kumo all` (identity + image) from a fresh state directory (SQLite,
# bcrypt cost 4), on the standard ports 5000/9292 when they are free, else on
# free loopback ports (so a `make up` cloud can keep running), bootstraps it
# (the image endpoint is registered from the public URL's host and [image]
# port), uploads a small public image for [compute] image_ref, writes a
# Tempest workspace with the shared harness (../shared/harness:
# tempest-init.sh) with only Identity and Image available, and runs:
#   TEMPEST_SCOPE=interop (default)  the image rows of the Interop 2020.06
#                                    guideline (images-v2-*), run-interop.sh
#   TEMPEST_SCOPE=all                every tempest.api.image test
#                                    (run-tempest.sh)
# [image-feature-enabled] import_image and os_glance_reserved are on (Kumo
# has glance-direct and reserves os_glance_*).  The last lines are the
# harness summary, ending in "N passed, N failed, N skipped".
#
# Exit: 0 all passed, 1 a test failed or kumo did not exit cleanly (ASan),
# 2 setup error, 77 harness not found (skipped).
# Environment: KUMO_BIN [build/kumo], KUMO_HARNESS [<repo>/../shared/harness],
# TEMPEST_WORKDIR [<repo>/build-tempest-image], TEMPEST_SCOPE,
# TEMPEST_CONCURRENCY [2], KUMO_TEST_DB_URL (identity and image in this
# database instead of SQLite).
set -uo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

HARNESS="${KUMO_HARNESS:-$KUMO_ROOT/../shared/harness}"
WORK="${TEMPEST_WORKDIR:-$KUMO_ROOT/build-tempest-image}"
SCOPE="${TEMPEST_SCOPE:-interop}"
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"

if [ ! -x "$HARNESS/tempest-init.sh" ] || [ ! -x "$HARNESS/run-interop.sh" ]; then
	say "tempest-image: SKIPPED: no Tempest harness at $HARNESS (set KUMO_HARNESS)"
	exit 77
fi
[ -x /usr/bin/tempest ] || { say "tempest-image: /usr/bin/tempest missing (tools/install-deps.sh)" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null || exit 2
	ninja -C build kumo || exit 2
	BIN="$KUMO_ROOT/build/kumo"
fi

# ---- a fresh kumo
if port_busy 5000 || port_busy 9292; then
	PORT=$(free_port); IPORT=$(free_port)
	say "tempest-image: port 5000 or 9292 busy, using $PORT/$IPORT"
else
	PORT=5000; IPORT=9292
fi
STATE="$WORK/state"
rm -rf "$STATE"
mkdir -p "$STATE" "$WORK"
chmod 700 "$STATE"
CONF="$STATE/kumo.conf"
LOG="$WORK/kumo.log"
: > "$LOG"
ADMIN_PW="tempest-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$CONF" <<EOF
[DEFAULT]
state_dir = $STATE
bind_host = 127.0.0.1
debug = true

[identity]
connection = ${KUMO_TEST_DB_URL:-sqlite:///$STATE/identity.db}
port = $PORT
admin_port = 0
key_repository = $STATE/fernet-keys
password_hash_rounds = 4

[image]
connection = ${KUMO_TEST_DB_URL:-sqlite:///$STATE/image.db}
port = $IPORT

[network]
port = $(free_port)
agents = false
EOF
# the services this run does not test: on free ports, no compute agent
cat >> "$CONF" <<EOF

[compute]
port = $(free_port)
agent = false

[metadata]
port = $(free_port)

[console]
port = $(free_port)
EOF
kumo() { "$BIN" --config "$CONF" "$@"; }
URL="http://127.0.0.1:$PORT/v3"
IURL="http://127.0.0.1:$IPORT"
kumo manage db-sync >> "$LOG" 2>&1 || { say "db-sync failed, see $LOG"; exit 2; }
kumo manage fernet-setup >> "$LOG" 2>&1 || { say "fernet-setup failed, see $LOG"; exit 2; }
kumo manage bootstrap --bootstrap-password "$ADMIN_PW" --bootstrap-region-id RegionOne \
	--bootstrap-public-url "$URL/" --bootstrap-internal-url "$URL/" \
	--bootstrap-admin-url "$URL/" >> "$LOG" 2>&1 ||
	{ say "bootstrap failed, see $LOG"; exit 2; }

"$BIN" --config "$CONF" all >> "$LOG" 2>&1 < /dev/null &
KPID=$!
cleanup() {
	if [ -n "${KPID:-}" ] && pid_alive "$KPID"; then
		kill -TERM "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null
	fi
}
trap cleanup EXIT
if ! wait_http "$URL" 60 "$KPID" || ! wait_http "$IURL/versions" 60 "$KPID"; then
	say "tempest-image: kumo did not answer on $URL / $IURL; last lines of $LOG:"
	tail -n 30 "$LOG"
	exit 2
fi
say "tempest-image: kumo pid $KPID on $URL and $IURL (log $LOG)"

AUTH=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$ADMIN_PW")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH" "$URL/auth/tokens" |
	awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || { say "tempest-image: cannot get an admin token from $URL"; exit 2; }
for role in member reader; do
	n=$(curl -s -H "X-Auth-Token: $TOKEN" "$URL/roles?name=$role" | jq '.roles | length' 2>/dev/null)
	[ "${n:-0}" -gt 0 ] || curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/json' -d "{\"role\":{\"name\":\"$role\"}}" "$URL/roles"
done

# the pre-existing image tempest.conf names ([compute] image_ref): public, active
IMAGE_ID=$(curl -s -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"tempest-ref","disk_format":"raw","container_format":"bare","visibility":"public"}' \
	"$IURL/v2/images" | jq -r .id)
[ -n "$IMAGE_ID" ] && [ "$IMAGE_ID" != null ] || { say "tempest-image: cannot create the reference image"; exit 2; }
head -c 65536 /dev/urandom | curl -s -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' --data-binary @- "$IURL/v2/images/$IMAGE_ID/file" |
	grep -q 204 || { say "tempest-image: cannot upload the reference image"; exit 2; }

# ---- the tempest workspace: Identity and Image only
WS="$WORK/ws"
OVR="$WORK/tempest-overrides.ini"
cat > "$OVR" <<EOF
[service_available]
nova = false
glance = true
cinder = false
swift = false

[image-feature-enabled]
import_image = true
os_glance_reserved = true
EOF
export TEMPEST_ADMIN_PASSWORD="$ADMIN_PW" TEMPEST_AUTH_URL="$URL" TEMPEST_REGION=RegionOne
export TEMPEST_IMAGE_REF="$IMAGE_ID" TEMPEST_FLAVOR_REF=none-1 TEMPEST_FLAVOR_REF_ALT=none-2
export TEMPEST_PUBLIC_NETWORK_ID=none TEMPEST_CREATE_ISOLATED_NETWORKS=false
export TEMPEST_SWIFT=false TEMPEST_CONF_OVERRIDES="$OVR"
"$HARNESS/tempest-init.sh" "$WS" || { say "tempest-init.sh failed"; exit 2; }
# tempest-init.sh insists on neutron = true (interop needs it); without a
# network service every class teardown would look for a "network" endpoint.
sed -i '/^\[service_available\]/,/^\[/ s/^neutron = true$/neutron = false/' "$WS/etc/tempest.conf"
grep -q '^neutron = false$' "$WS/etc/tempest.conf" || { say "cannot disable neutron in tempest.conf"; exit 2; }

tempest_run_and_stop image
