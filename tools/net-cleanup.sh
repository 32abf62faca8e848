#!/bin/bash
# net-cleanup.sh - remove the data plane a Kumo cloud's network agents left on
# this machine, after that Kumo has stopped (the agents leave it up on
# purpose, so traffic survives restarts).  For `make down` or a test's
# cleanup, before the state directory is deleted: the agents' ownership marks
# live there.
#
#   tools/net-cleanup.sh STATE_DIR      ([DEFAULT] state_dir, written exactly
#                                        as in the configuration)
#
# Removes only what that cloud made:
#   - dnsmasq processes whose --pid-file is under STATE_DIR/dhcp/
#   - namespaces qdhcp-<id> for each STATE_DIR/dhcp/<id>, and the state dirs
#   - namespaces listed in STATE_DIR/l3-agent/ (the L3 agent's marks)
#   - bridges listed in STATE_DIR/l2-agent/ (the L2 agent's marks) and the
#     vxlan-* / <iface>.<vid> uplinks in them; mapped interfaces are only
#     released, never deleted
#   - nft tables bridge/inet kumo-sg-<tag>, tag = FNV-1a of STATE_DIR
# Nothing else is touched.  Idempotent.
set -uo pipefail
export LC_ALL=C

state=${1:?usage: net-cleanup.sh STATE_DIR}
[ "$(id -u)" -eq 0 ] || { echo "net-cleanup: needs root" >&2; exit 1; }

# dnsmasq of this cloud
prefix="--pid-file=$state/dhcp/"
for p in /proc/[0-9]*; do
	args=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null) || continue
	while IFS= read -r a; do
		if [ "${a#"$prefix"}" != "$a" ]; then
			kill "${p#/proc/}" 2>/dev/null && echo "net-cleanup: stopped dnsmasq ${p#/proc/}"
			break
		fi
	done <<< "$args"
done

# DHCP namespaces and state
if [ -d "$state/dhcp" ]; then
	for d in "$state"/dhcp/*/; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		if [ -e "/run/netns/qdhcp-$id" ]; then
			ip netns delete "qdhcp-$id" && echo "net-cleanup: removed qdhcp-$id"
		fi
		rm -rf -- "$d"
	done
fi

# router namespaces the L3 agent marked
if [ -d "$state/l3-agent" ]; then
	for m in "$state"/l3-agent/*; do
		[ -e "$m" ] || continue
		ns=$(basename "$m")
		case "$ns" in qrouter-*) ;; *) continue ;; esac
		if [ -e "/run/netns/$ns" ]; then
			ip netns delete "$ns" && echo "net-cleanup: removed $ns"
		fi
		rm -f -- "$m"
	done
fi

# bridges the L2 agent marked, with the uplinks it made for them
if [ -d "$state/l2-agent" ]; then
	for m in "$state"/l2-agent/brq*; do
		[ -e "$m" ] || continue
		br=$(basename "$m")
		if [ -d "/sys/class/net/$br/bridge" ]; then
			for port in /sys/class/net/"$br"/brif/*; do
				[ -e "$port" ] || continue
				dev=$(basename "$port")
				case "$dev" in
				vxlan-*|*.*) ip link del "$dev" 2>/dev/null ;;
				esac
			done
			ip link del "$br" && echo "net-cleanup: removed bridge $br"
		fi
		rm -f -- "$m"
	done
fi

# this cloud's security group tables
h=2166136261
s=$state
for ((i = 0; i < ${#s}; i++)); do
	printf -v c '%d' "'${s:i:1}"
	h=$(( ((h ^ (c & 255)) * 16777619) & 0xFFFFFFFF ))
done
table=$(printf 'kumo-sg-%08x' "$h")
for fam in bridge inet; do
	nft delete table "$fam" "$table" 2>/dev/null && echo "net-cleanup: removed nft table $fam $table"
done
exit 0
