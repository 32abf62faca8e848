#!/bin/bash
# tempest-compute.sh - run Tempest's compute tests against a Kumo of its own,
# with real virtual machines.
#
# Starts `kumo all` (identity, image, network with its agents, compute with
# its libvirt agent) from a fresh state directory (SQLite, bcrypt cost 4) on
# free loopback ports, bootstraps it, uploads the guest image
# (tools/build-guest-image.sh) as a public image, creates the external
# network "public" (flat on a veth pair of this run, 172.24.4.0/24 is NOT
# used: 198.18.<n>.0/24 so a `make up` cloud can run beside it), writes a
# Tempest workspace with the shared harness (../shared/harness:
# tempest-init.sh) with Identity, Image, Network and Compute available
# (m1.tiny and m1.small as flavor_ref / flavor_ref_alt, max microversion =
# Kumo's), and runs:
#   TEMPEST_SCOPE=interop (default)  the compute rows of the Interop 2020.06
#                                    guideline, run-interop.sh
#   TEMPEST_SCOPE=all                every tempest.api.compute test
#   TEMPEST_SCOPE=<regex>            run-tempest.sh with that regex
# TEMPEST_VALIDATION=1 turns on [validation] run_validation: Tempest boots its
# servers with keypairs and floating IPs and logs into them with SSH (user
# cirros); this machine reaches the floating IPs through the far end of the
# "public" veth, which then holds the external gateway 198.18.0.1.
# Needs root and a running libvirtd (tools/libvirt-setup.sh).  At the end
# every server of this cloud is gone (Tempest deletes them; leftovers are
# destroyed), the veth pair, bridges and namespaces of this run are removed.
#
# Exit: 0 all passed, 1 a test failed or kumo did not exit cleanly (ASan),
# 2 setup error, 77 harness not found (skipped).
# Environment: KUMO_BIN [build/kumo], KUMO_HARNESS [<repo>/../shared/harness],
# TEMPEST_WORKDIR [<repo>/build-tempest-compute], TEMPEST_SCOPE,
# TEMPEST_CONCURRENCY [2], KUMO_TEST_DB_URL (all services in this database).
set -uo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

HARNESS="${KUMO_HARNESS:-$KUMO_ROOT/../shared/harness}"
WORK="${TEMPEST_WORKDIR:-$KUMO_ROOT/build-tempest-compute}"
SCOPE="${TEMPEST_SCOPE:-interop}"
BIN="${KUMO_BIN:-$KUMO_ROOT/build/kumo}"

if [ ! -x "$HARNESS/tempest-init.sh" ] || [ ! -x "$HARNESS/run-interop.sh" ]; then
	say "tempest-compute: SKIPPED: no Tempest harness at $HARNESS (set KUMO_HARNESS)"
	exit 77
fi
[ "$(id -u)" = 0 ] || { say "tempest-compute: needs root (VMs, bridges)" >&2; exit 2; }
[ -x /usr/bin/tempest ] || { say "tempest-compute: /usr/bin/tempest missing (tools/install-deps.sh)" >&2; exit 2; }
command -v jq >/dev/null || { say "tempest-compute: jq missing (tools/install-deps.sh)" >&2; exit 2; }
bash tools/libvirt-setup.sh >/dev/null || { say "tempest-compute: libvirt is not available (tools/libvirt-setup.sh)" >&2; exit 2; }
IMAGE="${KUMO_GUEST_IMAGE:-$KUMO_ROOT/build/guest-image/kumo-cirros.qcow2}"
if [ -z "${KUMO_GUEST_IMAGE:-}" ]; then
	bash tools/build-guest-image.sh "$(dirname "$IMAGE")" >/dev/null ||
		{ say "tempest-compute: tools/build-guest-image.sh failed" >&2; exit 2; }
fi
[ -f "$IMAGE" ] || { say "tempest-compute: no guest image at $IMAGE" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized >/dev/null || exit 2
	ninja -C build kumo || exit 2
	BIN="$KUMO_ROOT/build/kumo"
fi

# ---- a fresh kumo
PORT=$(free_port); IPORT=$(free_port); NPORT=$(free_port); CPORT=$(free_port)
MDPORT=$(free_port); VNCPORT=$(free_port)
MDSECRET="md-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
RUN_ID=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
EXT_DEV="ktc${RUN_ID}"          # host end of the "public" physnet
EXT_PEER="ktc${RUN_ID}p"
STATE="$WORK/state"
rm -rf "$STATE"
mkdir -p "$STATE" "$WORK"
chmod 700 "$STATE"
CONF="$STATE/kumo.conf"
LOG="$WORK/kumo.log"
: > "$LOG"
ADMIN_PW="tempest-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ip link add "$EXT_DEV" type veth peer name "$EXT_PEER" || { say "tempest-compute: cannot create veth $EXT_DEV"; exit 2; }
ip link set "$EXT_DEV" up; ip link set "$EXT_PEER" up
if [ "${TEMPEST_VALIDATION:-0}" = 1 ]; then
	ip addr add 198.18.0.1/24 dev "$EXT_PEER" || { say "tempest-compute: cannot address $EXT_PEER"; exit 2; }
fi
DB="${KUMO_TEST_DB_URL:-}"
cat > "$CONF" <<EOF
[DEFAULT]
state_dir = $STATE
bind_host = 127.0.0.1
debug = true

[identity]
connection = ${DB:-sqlite:///$STATE/identity.db}
port = $PORT
admin_port = 0
key_repository = $STATE/fernet-keys
password_hash_rounds = 4

[image]
connection = ${DB:-sqlite:///$STATE/image.db}
port = $IPORT

[network]
connection = ${DB:-sqlite:///$STATE/network.db}
port = $NPORT
workers = 8
agents = true
physical_interface_mappings = public:$EXT_DEV
network_vlan_ranges = physnet1:100:199
vni_ranges = 1:1000
metadata_proxy_shared_secret = $MDSECRET
nova_metadata_host = 127.0.0.1
nova_metadata_port = $MDPORT

[compute]
connection = ${DB:-sqlite:///$STATE/compute.db}
port = $CPORT
workers = 8
agent = true
virt_driver = libvirt
shutdown_timeout = 10
metadata_proxy_shared_secret = $MDSECRET
novncproxy_base_url = http://127.0.0.1:$VNCPORT/vnc_auto.html

[metadata]
port = $MDPORT

[console]
port = $VNCPORT

[keystone_authtoken]
username = admin
password = $ADMIN_PW
project_name = admin
auth_url = http://127.0.0.1:$PORT
EOF
kumo() { "$BIN" --config "$CONF" "$@"; }
URL="http://127.0.0.1:$PORT/v3"
NURL="http://127.0.0.1:$NPORT"
CURL_="http://127.0.0.1:$CPORT"
GURL="http://127.0.0.1:$IPORT"
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
	# whatever Tempest did not delete: this cloud's domains, then its data plane
	for d in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep '^instance-'); do
		if virsh -c qemu:///system dumpxml "$d" 2>/dev/null | grep -q "$STATE/instances"; then
			virsh -c qemu:///system destroy "$d" >/dev/null 2>&1
			virsh -c qemu:///system undefine "$d" --managed-save >/dev/null 2>&1
		fi
	done
	bash tools/net-cleanup.sh "$STATE" >/dev/null 2>&1 || true
	ip link delete "$EXT_DEV" 2>/dev/null || true
}
VALIDATION_OVR=""
if [ "${TEMPEST_VALIDATION:-0}" = 1 ]; then
	VALIDATION_OVR="
[validation]
run_validation = true
connect_method = floating
auth_method = keypair
image_ssh_user = cirros
image_ssh_password = gocubsgo
image_alt_ssh_user = cirros
ssh_timeout = 300
ping_timeout = 240
"
fi
trap cleanup EXIT
for u in "$URL" "$NURL/" "$CURL_/" "$GURL/versions"; do
	if ! wait_http "$u" 60 "$KPID"; then
		say "tempest-compute: kumo did not answer on $u; last lines of $LOG:"
		tail -n 30 "$LOG"
		exit 2
	fi
done
say "tempest-compute: kumo pid $KPID on $URL, compute $CURL_ (log $LOG)"

AUTH=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$ADMIN_PW")
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$AUTH" "$URL/auth/tokens" |
	awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || { say "tempest-compute: cannot get an admin token from $URL"; exit 2; }
for role in member reader; do
	n=$(curl -s -H "X-Auth-Token: $TOKEN" "$URL/roles?name=$role" | jq '.roles | length' 2>/dev/null)
	[ "${n:-0}" -gt 0 ] || curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/json' -d "{\"role\":{\"name\":\"$role\"}}" "$URL/roles"
done
api() { # method url [body]
	curl -s -X "$1" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$2"
}

# ---- the guest image, twice: image_ref and a distinct image_ref_alt (rebuild,
# the list-by-image filters)
upload_image() { # name -> id
	local id code
	id=$(api POST "$GURL/v2/images" "{\"name\":\"$1\",\"disk_format\":\"qcow2\",\"container_format\":\"bare\",\"visibility\":\"public\"}" | jq -r .id)
	[ -n "$id" ] && [ "$id" != null ] || return 1
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$IMAGE" \
		"$GURL/v2/images/$id/file")
	[ "$code" = 204 ] || return 1
	echo "$id"
}
IMAGE_ID=$(upload_image kumo-cirros) || { say "tempest-compute: cannot upload the image"; exit 2; }
IMAGE_ALT_ID=$(upload_image kumo-cirros-alt) || { say "tempest-compute: cannot upload the image"; exit 2; }

# ---- the external network "public" (router gateways of the isolated networks)
PUBLIC_ID=$(api POST "$NURL/v2.0/networks" '{"network":{"name":"public","router:external":true,"provider:network_type":"flat","provider:physical_network":"public"}}' | jq -r .network.id)
[ -n "$PUBLIC_ID" ] && [ "$PUBLIC_ID" != null ] || { say "tempest-compute: cannot create the external network"; exit 2; }
SUBNET_ID=$(api POST "$NURL/v2.0/subnets" "{\"subnet\":{\"name\":\"public-subnet\",\"network_id\":\"$PUBLIC_ID\",\"ip_version\":4,\"cidr\":\"198.18.0.0/24\",\"gateway_ip\":\"198.18.0.1\",\"enable_dhcp\":false}}" | jq -r .subnet.id)
[ -n "$SUBNET_ID" ] && [ "$SUBNET_ID" != null ] || { say "tempest-compute: cannot create the external subnet"; exit 2; }
EXTS=$(api GET "$NURL/v2.0/extensions" | jq -r '[.extensions[].alias] | join(",")')
MAXV=$(curl -s "$CURL_/" | jq -r '.versions[] | select(.id=="v2.1") | .version')
say "tempest-compute: image $IMAGE_ID, public network $PUBLIC_ID, compute microversions up to $MAXV"

# ---- the tempest workspace
WS="$WORK/ws"
OVR="$WORK/tempest-overrides.ini"
cat > "$OVR" <<EOF
[service_available]
nova = true
glance = true
cinder = false
swift = false
neutron = true

[compute-feature-enabled]
console_output = true
pause = true
suspend = true
vnc_console = true
config_drive = true
metadata_service = true
$VALIDATION_OVR
EOF
export TEMPEST_ADMIN_PASSWORD="$ADMIN_PW" TEMPEST_AUTH_URL="$URL" TEMPEST_REGION=RegionOne
export TEMPEST_IMAGE_REF="$IMAGE_ID" TEMPEST_IMAGE_REF_ALT="$IMAGE_ALT_ID" TEMPEST_FLAVOR_REF=1 TEMPEST_FLAVOR_REF_ALT=2
export TEMPEST_PUBLIC_NETWORK_ID="$PUBLIC_ID" TEMPEST_PUBLIC_NETWORK_NAME=public
export TEMPEST_NETWORK_EXTENSIONS="$EXTS" TEMPEST_COMPUTE_MAX_MICROVERSION="$MAXV"
export TEMPEST_SWIFT=false TEMPEST_CONF_OVERRIDES="$OVR"
"$HARNESS/tempest-init.sh" "$WS" || { say "tempest-init.sh failed"; exit 2; }

tempest_run_and_stop compute
