#!/bin/bash
# tempest-network.sh - run Tempest's network tests against a Kumo of its own.
#
# Starts `kumo all` (identity + image + network) from a fresh state directory
# (SQLite, bcrypt cost 4), identity and network on the standard ports
# 5000/9696 when they are free, else on free loopback ports (so a `make up`
# cloud can keep running), bootstraps it (the network endpoint is registered
# from the public URL's host and [network] port), creates with the admin
# token the external network "public" (router:external, flat on physnet
# "public") with a subnet 172.24.4.0/24 for the router gateway tests, writes
# a Tempest workspace with the shared harness (../shared/harness:
# tempest-init.sh) with Identity, Image and Network available, the network
# extensions the API lists, and runs:
#   TEMPEST_SCOPE=interop (default)  the network rows of the Interop 2020.06
#                                    guideline (networks-l2-CRUD,
#                                    networks-l3-router, networks-l3-CRUD,
#                                    networks-list-api-versions,
#                                    networks-security-groups-CRUD,
#                                    networks-subnet-pools-CRUD), run-interop.sh
#   TEMPEST_SCOPE=all                every tempest.api.network test
#                                    (run-tempest.sh)
#   TEMPEST_SCOPE=<regex>            run-tempest.sh with that regex
# The agents are off ([network] agents = false: API tests need no bridges);
# KUMO_NETWORK_AGENTS=true turns them on (needs root and the physnets).  The
# last lines are the harness summary, ending in "N passed, N failed, N skipped".
#
# Exit: 0 all passed, 1 a test failed or kumo did not exit cleanly (ASan),
# 2 setup error, 77 harness not found (skipped).
# Environment: KUMO_BIN [build/kumo], KUMO_HARNESS [<repo>/../shared/harness],
# TEMPEST_WORKDIR [<repo>/build-tempest-network], TEMPEST_SCOPE,
# TEMPEST_CONCURRENCY [2], KUMO_TEST_DB_URL (all services in this database
# instead of SQLite), KUMO_NETWORK_AGENTS [false].
set -uo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

HARNESS="${KUMO_HARNESS:-$KUMO_ROOT/../shared/harness}"
WORK="${TEMPEST_WORKDIR:-$KUMO_ROOT/build-tempest-network}"
SCOPE="${TEMPEST_SCOPE:-interop}"
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"

if [ ! -x "$HARNESS/tempest-init.sh" ] || [ ! -x "$HARNESS/run-interop.sh" ]; then
	say "tempest-network: SKIPPED: no Tempest harness at $HARNESS (set KUMO_HARNESS)"
	exit 77
fi
[ -x /usr/bin/tempest ] || { say "tempest-network: /usr/bin/tempest missing (tools/install-deps.sh)" >&2; exit 2; }
command -v jq >/dev/null || { say "tempest-network: jq missing (tools/install-deps.sh)" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null || exit 2
	ninja -C build kumo || exit 2
	BIN="$KUMO_ROOT/build/kumo"
fi

# ---- a fresh kumo
if port_busy 5000 || port_busy 9696; then
	PORT=$(free_port); NPORT=$(free_port)
	say "tempest-network: port 5000 or 9696 busy, using $PORT/$NPORT"
else
	PORT=5000; NPORT=9696
fi
IPORT=$(free_port)
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
connection = ${KUMO_TEST_DB_URL:-sqlite:///$STATE/network.db}
port = $NPORT
workers = 8
agents = ${KUMO_NETWORK_AGENTS:-false}
network_vlan_ranges = physnet1:100:199
vni_ranges = 1:1000
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
NURL="http://127.0.0.1:$NPORT"
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
if ! wait_http "$URL" 60 "$KPID" || ! wait_http "$NURL/" 60 "$KPID"; then
	say "tempest-network: kumo did not answer on $URL / $NURL; last lines of $LOG:"
	tail -n 30 "$LOG"
	exit 2
fi
say "tempest-network: kumo pid $KPID on $URL and $NURL (log $LOG)"

AUTH=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$ADMIN_PW")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH" "$URL/auth/tokens" |
	awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || { say "tempest-network: cannot get an admin token from $URL"; exit 2; }
for role in member reader; do
	n=$(curl -s -H "X-Auth-Token: $TOKEN" "$URL/roles?name=$role" | jq '.roles | length' 2>/dev/null)
	[ "${n:-0}" -gt 0 ] || curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/json' -d "{\"role\":{\"name\":\"$role\"}}" "$URL/roles"
done

# ---- the external network "public" with a subnet (router gateways, FIPs)
napi() { # method path [body]
	curl -s -X "$1" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$NURL$2"
}
PUBLIC_ID=$(napi POST /v2.0/networks '{"network":{"name":"public","router:external":true,"provider:network_type":"flat","provider:physical_network":"public"}}' | jq -r .network.id)
[ -n "$PUBLIC_ID" ] && [ "$PUBLIC_ID" != null ] || { say "tempest-network: cannot create the external network"; exit 2; }
SUBNET_ID=$(napi POST /v2.0/subnets "{\"subnet\":{\"name\":\"public-subnet\",\"network_id\":\"$PUBLIC_ID\",\"ip_version\":4,\"cidr\":\"172.24.4.0/24\",\"gateway_ip\":\"172.24.4.1\",\"enable_dhcp\":false}}" | jq -r .subnet.id)
[ -n "$SUBNET_ID" ] && [ "$SUBNET_ID" != null ] || { say "tempest-network: cannot create the external subnet"; exit 2; }
# the extensions tempest may use: exactly what the API lists
EXTS=$(napi GET /v2.0/extensions | jq -r '[.extensions[].alias] | join(",")')
[ -n "$EXTS" ] || { say "tempest-network: cannot list the network extensions"; exit 2; }
say "tempest-network: public network $PUBLIC_ID, extensions $EXTS"

# ---- the tempest workspace: Identity, Image and Network
WS="$WORK/ws"
OVR="$WORK/tempest-overrides.ini"
cat > "$OVR" <<EOF
[service_available]
nova = false
glance = true
cinder = false
swift = false
neutron = true

[network-feature-enabled]
ipv6_subnet_attributes = true
EOF
export TEMPEST_ADMIN_PASSWORD="$ADMIN_PW" TEMPEST_AUTH_URL="$URL" TEMPEST_REGION=RegionOne
export TEMPEST_IMAGE_REF=none TEMPEST_FLAVOR_REF=none-1 TEMPEST_FLAVOR_REF_ALT=none-2
export TEMPEST_PUBLIC_NETWORK_ID="$PUBLIC_ID" TEMPEST_PUBLIC_NETWORK_NAME=public
export TEMPEST_CREATE_ISOLATED_NETWORKS=false TEMPEST_NETWORK_EXTENSIONS="$EXTS"
export TEMPEST_SWIFT=false TEMPEST_CONF_OVERRIDES="$OVR"
"$HARNESS/tempest-init.sh" "$WS" || { say "tempest-init.sh failed"; exit 2; }

tempest_run_and_stop network
