#!/bin/bash
# up.sh - `make up`: from a fresh Debian 12 machine to a running Kumo cloud.
#
#   1. install the Debian packages (tools/install-deps.sh; fast when present)
#   2. build build/kumo (meson, buildtype debugoptimized)
#   3. write /etc/kumo/kumo.conf when missing
#   4. if Kumo is not running yet: db-sync, fernet-setup, bootstrap (admin user,
#      project, role, identity service + endpoints in RegionOne), then start
#      `kumo all` in the background (pid file /var/lib/kumo/kumo.pid, log
#      /var/log/kumo/kumo.log) and wait until GET /v3 answers
#   5. create the seed's demo project / demo user (role member) and the service
#      project with the real `openstack` CLI, when missing
#   6. write admin-openrc.sh and demo-openrc.sh in the repository root
#   7. the network world (tools/net-setup.sh): before the start, veth pairs for
#      the physnets (physnet1 -> kumo-phys1, public -> kumo-pub0, far ends in
#      namespaces kumo-physnet1 / kumo-upstream) and [network]
#      physical_interface_mappings in the config; once Kumo answers, the
#      external network "public" with its subnet (172.24.4.0/24), when missing
#   8. compute: libvirtd (tools/libvirt-setup.sh) before the start, the guest
#      image (tools/build-guest-image.sh, cirros-like, user "cirros") built
#      once and uploaded as the public image "cirros" when missing; the m1.*
#      flavors come with the compute database.  [keystone_authtoken] holds
#      the credentials compute uses for its calls to image and network.
#
# Re-running is safe: a running Kumo is left alone (restarted only when its
# binary was rebuilt), a stale pid file is removed, existing objects are kept.
#
# Environment: ADMIN_PASSWORD [admin], DEMO_PASSWORD [demo], KUMO_CONF
# [/etc/kumo/kumo.conf], KUMO_STATE_DIR [/var/lib/kumo], KUMO_LOG_DIR
# [/var/log/kumo], KUMO_INSTANCES_DIR [/var/lib/kumo-instances],
# KUMO_PUBLIC_PORT [5000], KUMO_ADMIN_PORT [35357],
# SKIP_DEPS=1 (do not run install-deps.sh), UP_TIMEOUT [60] seconds.
set -euo pipefail
. "$(dirname "$0")/kumo-lib.sh"
cd "$KUMO_ROOT"

ADMIN_PASSWORD="${ADMIN_PASSWORD:-admin}"
DEMO_PASSWORD="${DEMO_PASSWORD:-demo}"
CONF="${KUMO_CONF:-/etc/kumo/kumo.conf}"
STATE="${KUMO_STATE_DIR:-/var/lib/kumo}"
LOGDIR="${KUMO_LOG_DIR:-/var/log/kumo}"
PORT="${KUMO_PUBLIC_PORT:-5000}"
APORT="${KUMO_ADMIN_PORT:-35357}"
PIDFILE="$STATE/kumo.pid"
LOG="$LOGDIR/kumo.log"
BIN="$KUMO_ROOT/build/kumo"
PUBLIC_URL="http://127.0.0.1:$PORT/v3"
ADMIN_URL="http://127.0.0.1:$APORT/v3"
[ "$APORT" != 0 ] || ADMIN_URL="$PUBLIC_URL"

# 1. packages
[ "${SKIP_DEPS:-0}" = 1 ] || bash tools/install-deps.sh

# 2. build
if [ ! -f build/build.ninja ]; then
	meson setup build --buildtype debugoptimized
fi
ninja -C build kumo

# 3. configuration
mkdir -p "$STATE" "$LOGDIR" "$(dirname "$CONF")"
chmod 0700 "$STATE"
if [ ! -f "$CONF" ]; then
	say "writing $CONF"
	umask 077
	cat > "$CONF" <<CONFEOF
# Kumo configuration, written by tools/up.sh. Keys left out take their defaults
# (see docs/ and /work/notes/config.md in the project notes).
[DEFAULT]
state_dir = $STATE
# empty = stderr (tools/up.sh sends it to $LOG)
log_file =
debug = false
bind_host = 127.0.0.1

[identity]
connection = sqlite:///$STATE/identity.db
port = $PORT
admin_port = $APORT
key_repository = $STATE/fernet-keys
# bcrypt cost, as Keystone's default
password_hash_rounds = 12
CONFEOF
	umask 022
fi
kumo() { "$BIN" --config "$CONF" "$@"; }
# compute calls image and network with these (configs from older runs lack them)
if ! grep -q '^\[keystone_authtoken\]' "$CONF"; then
	umask 077
	cat >> "$CONF" <<CONFEOF

[keystone_authtoken]
# the service user of compute's calls to the image and network services
username = admin
password = $ADMIN_PASSWORD
project_name = admin
auth_url = http://127.0.0.1:$PORT
CONFEOF
	umask 022
fi

# the metadata proxy (network) signs what the metadata API (compute) checks
if ! grep -q '^[ \t]*metadata_proxy_shared_secret' "$CONF"; then
	secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	umask 077
	printf '\n[network]\nmetadata_proxy_shared_secret = %s\n\n[compute]\nmetadata_proxy_shared_secret = %s\n' \
		"$secret" "$secret" >> "$CONF"
	umask 022
fi

# the VMs' disks live outside the state directory: QEMU runs as libvirt-qemu and
# must reach them, while the state directory (databases, keys) stays 0700
if ! grep -q '^[ \t]*instances_path' "$CONF"; then
	printf '\n[compute]\n# instance disks, console logs, the image cache (_base)\ninstances_path = %s\n' \
		"${KUMO_INSTANCES_DIR:-/var/lib/kumo-instances}" >> "$CONF"
fi
mkdir -p "${KUMO_INSTANCES_DIR:-/var/lib/kumo-instances}"
chmod 0711 "${KUMO_INSTANCES_DIR:-/var/lib/kumo-instances}"

# 8a. libvirt and the guest image
bash tools/libvirt-setup.sh || die "libvirt is not available (tools/libvirt-setup.sh)"
bash tools/build-guest-image.sh build/guest-image || die "cannot build the guest image"

# 7a. the "physical" interfaces of the physnets (never the machine's own)
bash tools/net-setup.sh config "$CONF"
bash tools/net-setup.sh links

# 4. start unless already running
pid=$(live_kumo_pid "$PIDFILE")
if [ -z "$pid" ] && [ -f "$PIDFILE" ]; then
	say "removing stale pid file $PIDFILE"
	rm -f "$PIDFILE"
fi
if [ -n "$pid" ] && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *" (deleted)" ]]; then
	say "kumo (pid $pid) runs an older build; restarting it"
	stop_pid "$pid" 20 || true
	rm -f "$PIDFILE"
	pid=
fi
if [ -n "$pid" ]; then
	if ! wait_http "$PUBLIC_URL" 10 "$pid"; then
		die "kumo (pid $pid) is running but $PUBLIC_URL does not answer; see $LOG or run 'make down'"
	fi
	say "kumo already running (pid $pid)"
else
	if port_busy "$PORT"; then
		die "port $PORT is in use by another program (not the kumo of $PIDFILE); stop it or set KUMO_PUBLIC_PORT"
	fi
	if [ "$APORT" != 0 ] && port_busy "$APORT"; then
		die "port $APORT is in use by another program; stop it or set KUMO_ADMIN_PORT"
	fi
	kumo manage db-sync
	kumo manage fernet-setup
	kumo manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
		--bootstrap-username admin --bootstrap-project-name admin \
		--bootstrap-role-name admin --bootstrap-service-name keystone \
		--bootstrap-region-id RegionOne \
		--bootstrap-public-url "http://127.0.0.1:$PORT/v3/" \
		--bootstrap-internal-url "http://127.0.0.1:$PORT/v3/" \
		--bootstrap-admin-url "${ADMIN_URL}/"
	say "starting kumo all (log $LOG)"
	t0=$(date +%s.%N)
	setsid nohup "$BIN" --config "$CONF" all >> "$LOG" 2>&1 < /dev/null &
	pid=$!
	echo "$pid" > "$PIDFILE"
	if ! wait_http "$PUBLIC_URL" "${UP_TIMEOUT:-60}" "$pid"; then
		say "kumo did not answer on $PUBLIC_URL; last lines of $LOG:" >&2
		tail -n 30 "$LOG" >&2 || true
		pid_alive "$pid" && stop_pid "$pid" 5 || true
		rm -f "$PIDFILE"
		exit 1
	fi
	say "kumo running, pid $pid, answered after $(awk -v a="$t0" -v b="$(date +%s.%N)" \
		'BEGIN{printf "%.2f", b-a}') s"
fi

# 5. the seed's demo project and user, and the service project (idempotent)
openstack_admin() {
	env -u OS_TOKEN -u OS_URL -u OS_CLOUD OS_AUTH_TYPE=password \
		OS_AUTH_URL="$ADMIN_URL" OS_IDENTITY_API_VERSION=3 \
		OS_PROJECT_DOMAIN_ID=default OS_USER_DOMAIN_ID=default \
		OS_PROJECT_NAME=admin OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" \
		/usr/bin/openstack "$@"
}
projects=$(openstack_admin project list -f value -c Name)
users=$(openstack_admin user list -f value -c Name)
roles=$(openstack_admin role list -f value -c Name)
has() { grep -qx -- "$2" <<< "$1"; }
has "$projects" demo || openstack_admin project create --domain default \
	--description "Demo Project" demo -f value -c id >/dev/null
has "$projects" service || openstack_admin project create --domain default \
	--description "Service Project" service -f value -c id >/dev/null
if ! has "$users" demo; then
	openstack_admin user create --domain default --password "$DEMO_PASSWORD" demo \
		-f value -c id >/dev/null
else
	# keep demo's password in step with DEMO_PASSWORD (and demo-openrc.sh)
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data "$("$PY" -c 'import json,sys; print(json.dumps({"auth": {"identity": {
			"methods": ["password"], "password": {"user": {"name": "demo",
			"domain": {"id": "default"}, "password": sys.argv[1]}}}}}))' "$DEMO_PASSWORD")" \
		"$PUBLIC_URL/auth/tokens")
	[ "$code" = 201 ] || openstack_admin user set --password "$DEMO_PASSWORD" demo
fi
has "$roles" member || openstack_admin role create member -f value -c id >/dev/null
openstack_admin role add --project demo --user demo member

# 7b. the external network for routers and floating IPs
NET_PORT=$(awk -F= '/^\[/{s=$0} s=="[network]" && $1~/^[ \t]*port[ \t]*$/{gsub(/[ \t]/,"",$2); print $2}' \
	"$CONF" | tail -n 1)
if wait_http "http://127.0.0.1:${NET_PORT:-9696}/" 30 "$(cat "$PIDFILE")"; then
	ADMIN_PASSWORD="$ADMIN_PASSWORD" KUMO_ADMIN_URL="$ADMIN_URL" bash tools/net-setup.sh public
else
	say "the Network API does not answer on port ${NET_PORT:-9696}; skipping the public network" >&2
fi

# 8b. the guest image as the public image "cirros" (the seed's name)
IMG_PORT=$(awk -F= '/^\[/{s=$0} s=="[image]" && $1~/^[ \t]*port[ \t]*$/{gsub(/[ \t]/,"",$2); print $2}' \
	"$CONF" | tail -n 1)
if wait_http "http://127.0.0.1:${IMG_PORT:-9292}/versions" 30 "$(cat "$PIDFILE")"; then
	want_md5=$(md5sum < build/guest-image/kumo-cirros.qcow2 | cut -d' ' -f1)
	img_name=cirros
	have=$(openstack_admin image list --name cirros -f value -c ID | head -n 1)
	if [ -n "$have" ]; then
		sum=$(openstack_admin image show "$have" -f value -c checksum 2>/dev/null || true)
		if [ "$sum" != "$want_md5" ]; then
			# someone else's "cirros" (or an older build): never replaced
			img_name=kumo-cirros
			have=$(openstack_admin image list --name kumo-cirros -f value -c ID | head -n 1)
			if [ -n "$have" ] && [ "$(openstack_admin image show "$have" -f value -c checksum)" != "$want_md5" ]; then
				say "replacing the older guest image kumo-cirros ($have)"
				openstack_admin image delete "$have"
				have=
			fi
			[ -n "$have" ] || say "an image \"cirros\" that is not this guest image exists: uploading ours as \"kumo-cirros\""
		fi
	fi
	if [ -z "$have" ]; then
		say "uploading the guest image as \"$img_name\""
		openstack_admin image create --disk-format qcow2 --container-format bare --public \
			--file build/guest-image/kumo-cirros.qcow2 "$img_name" -f value -c id >/dev/null
	fi
fi

# 6. openrc files, in the seed's format
write_openrc() { # file project user password url
	cat > "$1" <<RCEOF
export OS_PROJECT_DOMAIN_ID=default
export OS_USER_DOMAIN_ID=default
export OS_PROJECT_NAME=$2
export OS_TENANT_NAME=$2
export OS_USERNAME=$3
export OS_PASSWORD=$4
export OS_AUTH_URL=$5
export OS_IDENTITY_API_VERSION=3
RCEOF
	chmod 0700 "$1"
}
write_openrc admin-openrc.sh admin admin "$ADMIN_PASSWORD" "$ADMIN_URL"
write_openrc demo-openrc.sh demo demo "$DEMO_PASSWORD" "$PUBLIC_URL"

cat <<EOF

Kumo is up: Identity at $PUBLIC_URL (admin endpoint $ADMIN_URL), pid $(cat "$PIDFILE").
  source admin-openrc.sh && openstack token issue      # as admin
  source demo-openrc.sh && openstack project list       # as the demo user
  make down                                             # stop it
  ip netns exec kumo-upstream ping <floating ip>        # the "outside" of network public
  openstack server create --flavor m1.tiny --image cirros --nic net-id=<net> vm1   # a VM
Log: $LOG   Config: $CONF   State: $STATE
EOF
