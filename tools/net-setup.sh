#!/bin/bash
# net-setup.sh - the network world `make up` gives the cloud, on this machine only.
#
# The Network service maps physical networks to interfaces ([network]
# physical_interface_mappings).  Kumo never touches the machine's real
# interfaces: the "physical" interfaces are veth pairs made here, whose far
# ends sit in namespaces that stand in for what a real data centre has at the
# other end of the wire:
#
#   physnet "public"   kumo-pub0   <-> pub0  in namespace kumo-upstream, which
#                                              holds the external network's
#                                              gateway (172.24.4.1/24) and
#                                              plays the upstream router
#   physnet "physnet1" kumo-phys1  <-> phys1 in namespace kumo-physnet1 (an
#                                              empty wire: the seed's
#                                              `neutron net-create flat
#                                              --provider:physical_network
#                                              physnet1` lands here)
#
# The host ends (kumo-pub0, kumo-phys1) stay in the host namespace without any
# address; the linuxbridge agent enslaves them into the networks' bridges.  No
# route is added to the host's main namespace.
#
# Commands (each idempotent; re-running repairs what is missing or half made):
#   links            create the namespaces and veth pairs
#   config CONF      add [network] physical_interface_mappings to CONF unless set
#   public           create the external network "public" (router:external, flat
#                    on physnet "public") and its subnet through the API, as
#                    admin (needs a running Kumo; uses OS_* of admin-openrc.sh or
#                    ADMIN_PASSWORD + KUMO_ADMIN_URL)
#   down             remove the namespaces and veth pairs made by `links`
#   status           show what exists
#
# Environment: PUBLIC_CIDR [172.24.4.0/24], PUBLIC_GATEWAY [172.24.4.1],
# PUBLIC_POOL_START [172.24.4.10], PUBLIC_POOL_END [172.24.4.250],
# PUBLIC_NETWORK [public], PUBLIC_PHYSNET [public].
set -euo pipefail
. "$(dirname "$0")/kumo-lib.sh"

UPSTREAM_NS=kumo-upstream
PHYSNET1_NS=kumo-physnet1
PUB_DEV=kumo-pub0
PHYS1_DEV=kumo-phys1
PUBLIC_CIDR="${PUBLIC_CIDR:-172.24.4.0/24}"
PUBLIC_GATEWAY="${PUBLIC_GATEWAY:-172.24.4.1}"
PUBLIC_POOL_START="${PUBLIC_POOL_START:-172.24.4.10}"
PUBLIC_POOL_END="${PUBLIC_POOL_END:-172.24.4.250}"
PUBLIC_NETWORK="${PUBLIC_NETWORK:-public}"
PUBLIC_PHYSNET="${PUBLIC_PHYSNET:-public}"
MAPPINGS="physnet1:$PHYS1_DEV,$PUBLIC_PHYSNET:$PUB_DEV"

ns_exists() { [ -e "/run/netns/$1" ]; }
dev_exists() { ip link show dev "$1" >/dev/null 2>&1; }
ns_dev_exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# veth HOSTDEV <-> NSDEV in namespace NS; a half-made pair (one end missing, or
# the far end not in NS) is removed and made again.
ensure_wire() { # hostdev ns nsdev [address/prefix]
	local hdev=$1 ns=$2 ndev=$3 addr=${4:-}
	ns_exists "$ns" || ip netns add "$ns"
	ip -n "$ns" link set lo up
	if dev_exists "$hdev" && ! ns_dev_exists "$ns" "$ndev"; then
		say "net-setup: $hdev has no peer $ndev in $ns; making the pair again"
		ip link del "$hdev"
	fi
	if ! dev_exists "$hdev" && ns_dev_exists "$ns" "$ndev"; then
		ip -n "$ns" link del "$ndev"
	fi
	if ! dev_exists "$hdev"; then
		ip link add "$hdev" type veth peer name "$ndev" netns "$ns"
		say "net-setup: created $hdev <-> $ns/$ndev"
	fi
	# no IPv6 autoconfiguration on the host end: it is a switch port
	sysctl -qw "net.ipv6.conf.$hdev.disable_ipv6=1" 2>/dev/null || true
	ip link set "$hdev" up
	ip -n "$ns" link set "$ndev" up
	if [ -n "$addr" ]; then
		ip -n "$ns" addr replace "$addr" dev "$ndev"
	fi
}

cmd_links() {
	local plen=${PUBLIC_CIDR#*/}
	ensure_wire "$PUB_DEV" "$UPSTREAM_NS" pub0 "$PUBLIC_GATEWAY/$plen"
	# the upstream router forwards between what it is connected to (nothing
	# else than the external network today); it never reaches the host
	ip netns exec "$UPSTREAM_NS" sysctl -qw net.ipv4.ip_forward=1
	ensure_wire "$PHYS1_DEV" "$PHYSNET1_NS" phys1
}

cmd_down() {
	local d
	for d in "$PUB_DEV" "$PHYS1_DEV"; do
		if dev_exists "$d"; then ip link del "$d" && say "net-setup: removed $d"; fi
	done
	for d in "$UPSTREAM_NS" "$PHYSNET1_NS"; do
		if ns_exists "$d"; then ip netns delete "$d" && say "net-setup: removed namespace $d"; fi
	done
}

cmd_status() {
	local d m
	for d in "$UPSTREAM_NS" "$PHYSNET1_NS"; do
		if ns_exists "$d"; then
			say "namespace $d:"; ip -n "$d" -br addr | sed 's/^/  /'
		else
			say "namespace $d: missing"
		fi
	done
	for d in "$PUB_DEV" "$PHYS1_DEV"; do
		if dev_exists "$d"; then
			m=$(readlink "/sys/class/net/$d/master" 2>/dev/null || true)
			say "$(ip -br link show dev "$d")  master=${m:+${m##*/}}"
		else
			say "$d: missing"
		fi
	done
}

# [network] physical_interface_mappings in CONF, unless it already has one
cmd_config() { # conf
	local conf=$1
	[ -f "$conf" ] || die "no configuration file $conf"
	local has_key='/^\[/{s=$0} s=="[network]" && /^[ \t]*physical_interface_mappings[ \t]*=/{f=1}'
	if awk "$has_key END{exit !f}" "$conf"; then
		return 0
	fi
	if grep -q '^\[network\][ \t]*$' "$conf"; then
		sed -i "/^\[network\][ \t]*\$/a physical_interface_mappings = $MAPPINGS" "$conf"
	else
		printf '\n[network]\n# physnets -> interfaces made by tools/net-setup.sh (veth pairs)\n%s\n' \
			"physical_interface_mappings = $MAPPINGS" >> "$conf"
	fi
	say "net-setup: $conf: [network] physical_interface_mappings = $MAPPINGS"
}

os_admin() {
	if [ -z "${OS_AUTH_URL:-}" ] && [ -f "$KUMO_ROOT/admin-openrc.sh" ]; then
		# shellcheck disable=SC1091
		. "$KUMO_ROOT/admin-openrc.sh"
	fi
	env -u OS_TOKEN -u OS_URL -u OS_CLOUD OS_AUTH_TYPE=password \
		OS_AUTH_URL="${KUMO_ADMIN_URL:-${OS_AUTH_URL:-http://127.0.0.1:35357/v3}}" \
		OS_IDENTITY_API_VERSION=3 OS_PROJECT_DOMAIN_ID=default OS_USER_DOMAIN_ID=default \
		OS_PROJECT_NAME=admin OS_USERNAME=admin \
		OS_PASSWORD="${ADMIN_PASSWORD:-${OS_PASSWORD:-admin}}" \
		/usr/bin/openstack "$@"
}

# the external network "public" and its subnet, unless they exist
cmd_public() {
	local net sub
	net=$(os_admin network list --name "$PUBLIC_NETWORK" -f value -c ID | head -n 1)
	if [ -z "$net" ]; then
		net=$(os_admin network create --external --provider-network-type flat \
			--provider-physical-network "$PUBLIC_PHYSNET" "$PUBLIC_NETWORK" -f value -c id)
		say "net-setup: created network $PUBLIC_NETWORK ($net)"
	fi
	sub=$(os_admin subnet list --network "$net" -f value -c ID | head -n 1)
	if [ -z "$sub" ]; then
		sub=$(os_admin subnet create --network "$net" --subnet-range "$PUBLIC_CIDR" \
			--gateway "$PUBLIC_GATEWAY" --no-dhcp \
			--allocation-pool "start=$PUBLIC_POOL_START,end=$PUBLIC_POOL_END" \
			"$PUBLIC_NETWORK-subnet" -f value -c id)
		say "net-setup: created subnet $PUBLIC_NETWORK-subnet $PUBLIC_CIDR ($sub)"
	fi
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces and veth pairs)"
case "${1:-}" in
links) cmd_links ;;
down) cmd_down ;;
status) cmd_status ;;
config) cmd_config "${2:?usage: net-setup.sh config CONF}" ;;
public) cmd_public ;;
*) die "usage: net-setup.sh links|config CONF|public|down|status" ;;
esac
