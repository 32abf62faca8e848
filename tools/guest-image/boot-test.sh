#!/bin/bash
# boot-test.sh [--config-drive] [--net] [--volume] [--shutdown] [IMAGE] - boot the guest image
# with libvirt the way nova does, and check it.
#
# IMAGE defaults to build/guest-image/kumo-cirros.qcow2. Each run uses a unique name
# (kumo-imgtest-<rand>) and removes its domain, disks, bridge, namespace, dnsmasq and metadata
# server on exit, success or not. Needs tools/libvirt-setup.sh to have run.
#   the domain   type='qemu' (or kvm when usable), raw _base converted from the image + qcow2
#                overlay grown to 1G, serial console to a file, VNC on 127.0.0.1, virtio rng
#   --config-drive  an ISO9660 config drive (genisoimage -V config-2) on an IDE cdrom with
#                hostname "hello-instance", an ssh key and a "#!" user_data
#   --net        a bridge kimg-<rand>, a namespace with a neutron-style dnsmasq (fixed IP by MAC,
#                option 121 route to 169.254.169.254) and a metadata HTTP server (hostname
#                "meta-instance"), a virtio NIC on the bridge; then ssh as cirros with the key
#                from the namespace: hostname, curl of the EC2 listing, sudo, lsblk, MTU; with
#                --config-drive too, Tempest's config drive steps (blkid -L, sudo mount)
#   --volume     (with --net) hot-attach a 64 MiB volume as vdb, then in the guest: Tempest's
#                partition count, sudo mke2fs -t ext4, mount, write, umount; then detach
#   --shutdown   finish with `virsh shutdown` (ACPI power button) and time it
# Environment: KEY_TYPE=rsa (default ed25519), MD_MODE=ec2 (metadata server without the
# openstack/ tree), CD_FORMAT=vfat (config drive as a FAT disk instead of an ISO cdrom), KEEP=1 (keep the temp dir), SHOW_CONSOLE=1 (print the console's tail).
# Checks: kernel messages and "login ready" on the console, the expected hostname. Prints
# timings; exit status 0 when every check passed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
CD=0 NET=0 SHUT=0 VOL=0
IMAGE=$REPO/build/guest-image/kumo-cirros.qcow2
for a in "$@"; do
	case "$a" in
	--config-drive) CD=1 ;;
	--net) NET=1 ;;
	--shutdown) SHUT=1 ;;
	--volume) VOL=1 ;;
	-*) echo "usage: $0 [--config-drive] [--net] [--volume] [--shutdown] [IMAGE]" >&2; exit 2 ;;
	*) IMAGE=$a ;;
	esac
done
[ -f "$IMAGE" ] || { echo "boot-test: $IMAGE not found (tools/build-guest-image.sh)" >&2; exit 2; }

URI=qemu:///system
RAND=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NAME=kumo-imgtest-$RAND
DIR=/tmp/$NAME
BR=kimg-$RAND NS=kimg-$RAND VETH_BR=kimgv-$RAND VETH_NS=kimgn-$RAND TAP=kimgt-$RAND
MAC=fa:16:3e:$(od -An -N3 -tx1 /dev/urandom | sed 's/^ //; s/ /:/g')
SUBNET=10.99.$((RANDOM % 200 + 20))
VM_IP=$SUBNET.5 DHCP_IP=$SUBNET.2
FAILS=0

log() { echo "boot-test: $*"; }
ok() { echo "boot-test: OK   $*"; }
bad() { echo "boot-test: FAIL $*"; FAILS=$((FAILS + 1)); }

cleanup() {
	set +e
	virsh -c "$URI" destroy "$NAME" >/dev/null 2>&1
	virsh -c "$URI" undefine "$NAME" >/dev/null 2>&1
	for p in "$DIR"/*.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	ip link del "$VETH_BR" 2>/dev/null
	ip link del "$BR" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] && { log "kept $DIR"; return; }
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

virt_type=$("$REPO/tools/libvirt-setup.sh" 2>/dev/null | sed -n 's/^virt_type=//p')
[ -n "$virt_type" ] || { log "libvirt is not answering (tools/libvirt-setup.sh)"; exit 1; }

mkdir -p "$DIR/_base"
chmod 755 "$DIR"	# qemu runs as libvirt-qemu and must reach the disks
ssh-keygen -q -t "${KEY_TYPE:-ed25519}" -N '' -C "boot-test@$NAME" -f "$DIR/key"
PUBKEY=$(cat "$DIR/key.pub")

# nova: image -> _base (raw, force_raw_images) -> qcow2 overlay grown to the flavor's disk
qemu-img convert -O raw "$IMAGE" "$DIR/_base/image"
qemu-img create -q -f qcow2 -F raw -b "$DIR/_base/image" "$DIR/disk" 1G

meta_json() {	# meta_json HOSTNAME
	printf '{"uuid": "%s", "name": "%s", "hostname": "%s", "launch_index": 0,' \
		"$(cat /proc/sys/kernel/random/uuid)" "$1" "$1"
	printf ' "availability_zone": "nova", "project_id": "p", "meta": {},'
	printf ' "public_keys": {"testkey": "%s\\n"},' "$PUBKEY"
	printf ' "keys": [{"name": "testkey", "type": "ssh", "data": "%s\\n"}]}\n' "$PUBKEY"
}
USERDATA='#!/bin/sh
echo "USERDATA-MARKER $(id -u)" >/dev/console
touch /tmp/user-data-ran'

CD_XML=
if [ "$CD" = 1 ]; then
	mkdir -p "$DIR/cd/openstack/latest"
	meta_json hello-instance >"$DIR/cd/openstack/latest/meta_data.json"
	printf '%s\n' "$USERDATA" >"$DIR/cd/openstack/latest/user_data"
	echo '{"links": [], "networks": [], "services": []}' \
		>"$DIR/cd/openstack/latest/network_data.json"
	if [ "${CD_FORMAT:-iso9660}" = vfat ]; then
		# nova's config_drive_format=vfat: a 64 MiB FAT disk labelled config-2
		mkfs.vfat -C -n config-2 "$DIR/disk.config" 65536 >/dev/null
		mcopy -s -i "$DIR/disk.config" "$DIR/cd/openstack" ::/
		CD_XML="<disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='$DIR/disk.config'/><target dev='vdz' bus='virtio'/></disk>"
	else
		genisoimage -quiet -o "$DIR/disk.config" -ldots -allow-lowercase -allow-multidot -l \
			-publisher "Kumo boot-test" -J -r -V config-2 "$DIR/cd" 2>/dev/null
		CD_XML="<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <source file='$DIR/disk.config'/><target dev='hda' bus='ide'/><readonly/></disk>"
	fi
fi

NET_XML=
if [ "$NET" = 1 ]; then
	ip link add "$BR" type bridge
	ip link set "$BR" up
	ip netns add "$NS"
	ip link add "$VETH_BR" type veth peer name "$VETH_NS" netns "$NS"
	ip link set "$VETH_BR" master "$BR" up
	ip -n "$NS" link set lo up
	ip -n "$NS" link set "$VETH_NS" up
	ip -n "$NS" addr add "$DHCP_IP/24" dev "$VETH_NS"
	ip -n "$NS" addr add 169.254.169.254/32 dev "$VETH_NS"
	mkdir -p "$DIR/dhcp" "$DIR/md/openstack/latest" "$DIR/md/2009-04-04/meta-data"
	chmod 755 "$DIR/dhcp"
	echo "$MAC,host-${VM_IP//./-}.openstacklocal,$VM_IP" >"$DIR/dhcp/host"
	cat >"$DIR/dhcp/opts" <<-EOF
	tag:subnet0,option:classless-static-route,169.254.169.254/32,$DHCP_IP,0.0.0.0/0,$SUBNET.1
	tag:subnet0,249,169.254.169.254/32,$DHCP_IP,0.0.0.0/0,$SUBNET.1
	tag:subnet0,option:router,$SUBNET.1
	tag:subnet0,option:dns-server,$DHCP_IP
	EOF
	ip netns exec "$NS" dnsmasq --no-hosts --no-resolv --pid-file="$DIR/dnsmasq.pid" \
		--dhcp-hostsfile="$DIR/dhcp/host" --dhcp-optsfile="$DIR/dhcp/opts" \
		--dhcp-leasefile="$DIR/dhcp/leases" --bind-dynamic --local-service \
		--dhcp-range=set:subnet0,$SUBNET.0,static,255.255.255.0,86400s \
		--dhcp-option-force=option:mtu,1450 --dhcp-lease-max=256 --conf-file=/dev/null \
		--domain=openstacklocal --interface="$VETH_NS" --log-dhcp \
		--log-facility="$DIR/dnsmasq.log"
	meta_json meta-instance >"$DIR/md/openstack/latest/meta_data.json"
	printf '%s\n' "$USERDATA" >"$DIR/md/openstack/latest/user_data"
	printf 'hostname\ninstance-id\nlocal-ipv4\npublic-keys/\n' \
		>"$DIR/md/2009-04-04/meta-data/index.html"
	echo meta-instance >"$DIR/md/2009-04-04/meta-data/hostname"
	echo "$VM_IP" >"$DIR/md/2009-04-04/meta-data/local-ipv4"
	mkdir -p "$DIR/md/2009-04-04/meta-data/public-keys/0"
	echo "$PUBKEY" >"$DIR/md/2009-04-04/meta-data/public-keys/0/openssh-key"
	printf '%s\n' "$USERDATA" >"$DIR/md/2009-04-04/user-data"
	# MD_MODE=ec2: no openstack/ tree, the guest must fall back to the EC2 paths
	[ "${MD_MODE:-}" = ec2 ] && rm -rf "$DIR/md/openstack"
	ip netns exec "$NS" /usr/bin/python3 -m http.server --bind 169.254.169.254 \
		--directory "$DIR/md" 80 >"$DIR/metadata.log" 2>&1 &
	echo $! >"$DIR/metadata.pid"
	NET_XML="<interface type='bridge'><mac address='$MAC'/><source bridge='$BR'/>
      <target dev='$TAP'/><model type='virtio'/><mtu size='1450'/></interface>"
fi

cat >"$DIR/domain.xml" <<EOF
<domain type='$virt_type'>
  <name>$NAME</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <sysinfo type='smbios'>
    <system><entry name='manufacturer'>OpenStack Foundation</entry>
      <entry name='product'>OpenStack Nova</entry></system>
  </sysinfo>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/><smbios mode='sysinfo'/></os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='$DIR/disk'/><target dev='vda' bus='virtio'/></disk>
    $CD_XML
    $NET_XML
    <serial type='file'><source path='$DIR/console.log'/><target port='0'/></serial>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
    <video><model type='vga'/></video>
    <memballoon model='virtio'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
EOF

virsh -c "$URI" define "$DIR/domain.xml" >/dev/null
log "domain $NAME ($virt_type) cd=$CD net=$NET"
t0=$(date +%s.%N)
virsh -c "$URI" start "$NAME" >/dev/null
t_start=$(date +%s.%N)
elapsed() { awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}"; }

ready=
for _ in $(seq 1 600); do
	if grep -q "cloud-setup: login ready" "$DIR/console.log" 2>/dev/null; then
		ready=$(elapsed)
		break
	fi
	sleep 0.2
done
log "virsh start took $(awk "BEGIN{printf \"%.2f\", $t_start - $t0}") s"
log "vnc: $(virsh -c "$URI" vncdisplay "$NAME" 2>/dev/null | head -n 1)"
if [ -n "$ready" ]; then
	ok "login ready ${ready} s after virsh start: $(grep -a 'login ready' "$DIR/console.log")"
else
	bad "no 'login ready' within 120 s"
fi
grep -aq '\] Linux version ' "$DIR/console.log" && ok "kernel messages on the serial console" ||
	bad "no kernel messages on the console"

expect_host=cirros
[ "$CD" = 1 ] && expect_host=hello-instance
[ "$NET" = 1 ] && expect_host=meta-instance
grep -aq "login ready: $expect_host " "$DIR/console.log" && ok "hostname $expect_host applied" ||
	bad "hostname $expect_host not applied"
if [ "$CD" = 1 ] || [ "$NET" = 1 ]; then
	grep -aq "USERDATA-MARKER 0" "$DIR/console.log" && ok "user_data ran as root" ||
		bad "user_data did not run"
fi
{ grep -a "metadata source:" "$DIR/console.log" || true; } | sed "s/^/boot-test:      /"

if [ "$NET" = 1 ] && [ -n "$ready" ]; then
	SSH=(ip netns exec "$NS" ssh -i "$DIR/key" -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10
		"cirros@$VM_IP")
	out=$("${SSH[@]}" hostname 2>&1) && [ "$out" = meta-instance ] &&
		ok "ssh cirros@$VM_IP hostname -> $out ($(elapsed) s)" || bad "ssh hostname: $out"
	out=$("${SSH[@]}" curl http://169.254.169.254/2009-04-04/meta-data/ 2>&1) &&
		echo "$out" | grep -qx local-ipv4 &&
		ok "curl of the EC2 listing in the guest: $(echo "$out" | tr '\n' ' ')" ||
		bad "curl listing: $out"
	if [ "${MD_MODE:-}" != ec2 ]; then
		out=$("${SSH[@]}" 'curl -V >/dev/null && curl http://169.254.169.254/openstack/latest/meta_data.json' 2>&1) &&
			echo "$out" | grep -q '"meta-instance"' && ok "curl meta_data.json in the guest" ||
			bad "curl meta_data.json: $out"
	fi
	out=$("${SSH[@]}" 'sudo sh -c "id -u; echo boot-test-console >/dev/console"' 2>&1) &&
		[ "$out" = 0 ] && ok "sudo works (id -u = 0)" || bad "sudo: $out"
	out=$("${SSH[@]}" 'set -eu -o pipefail; lsblk -lb --nodeps | grep -c disk; ip -o link | grep -c ether; cat /proc/uptime; ip route' 2>&1) &&
		ok "lsblk/ip in the guest: $(echo "$out" | tr '\n' ' ')" || bad "lsblk/ip: $out"
	out=$("${SSH[@]}" "ping -c1 -w5 $DHCP_IP >/dev/null && echo pinged" 2>&1) &&
		ok "ping from the guest as cirros" || bad "ping as cirros: $out"
	out=$("${SSH[@]}" 'ip link show eth0 | grep -o "mtu [0-9]*"' 2>&1)
	[ "$out" = "mtu 1450" ] && ok "MTU from DHCP: $out" || bad "MTU: $out"
	grep -q "DHCPACK.*$VM_IP $MAC" "$DIR/dnsmasq.log" && ok "dnsmasq: DHCPACK $VM_IP $MAC" ||
		bad "no DHCPACK in the dnsmasq log"
	grep -q 'GET /openstack/latest/meta_data.json' "$DIR/metadata.log" &&
		ok "metadata server asked for meta_data.json" || bad "metadata server not asked"
	# Tempest's own ssh client is paramiko: key auth (as Tempest) and the console password
	if /usr/bin/python3 -c 'import paramiko' 2>/dev/null; then
		out=$(ip netns exec "$NS" /usr/bin/python3 - "$VM_IP" "$DIR/key" <<-'PY' 2>&1
		import sys, paramiko
		ip, key = sys.argv[1], sys.argv[2]
		for kw in ({"key_filename": key}, {"password": "gocubsgo"}):
		    c = paramiko.SSHClient()
		    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
		    c.connect(ip, username="cirros", timeout=10, allow_agent=False,
		              look_for_keys=False, **kw)
		    _, o, _ = c.exec_command("set -eu -o pipefail; PATH=$PATH:/sbin:/usr/sbin; "
		                             "whoami; cut -f1 -d. /proc/uptime")
		    print(list(kw)[0], o.read().decode().split()[0], end="; ")
		    c.close()
		PY
		) && ok "paramiko: $out" || bad "paramiko: $out"
	fi
	if [ "$CD" = 1 ]; then
		# Tempest's ssh_shell_prologue adds /sbin and /usr/sbin to dropbear's /usr/bin:/bin
		out=$("${SSH[@]}" 'set -eu -o pipefail; PATH=$PATH:/sbin:/usr/sbin; d=$(blkid -L config-2 -o device); sudo mount $d /mnt; sudo cat /mnt/openstack/latest/meta_data.json; sudo umount /mnt' 2>&1) &&
			echo "$out" | grep -q '"hello-instance"' &&
			ok "config drive: blkid -L config-2, sudo mount, meta_data.json" ||
			bad "config drive in the guest: $out"
	fi
	if [ "$VOL" = 1 ]; then
		truncate -s 64M "$DIR/vol1"
		count='grep -c -E [vs]d.$ /proc/partitions'
		before=$("${SSH[@]}" "$count" 2>&1)
		virsh -c "$URI" attach-disk "$NAME" "$DIR/vol1" vdb --targetbus virtio --live \
			>/dev/null
		after=
		for _ in $(seq 1 50); do
			after=$("${SSH[@]}" "$count" 2>&1)
			[ "$after" != "$before" ] && break
			sleep 0.2
		done
		[ "$after" = $((before + 1)) ] && ok "volume attached: partitions $before -> $after" ||
			bad "volume attach: partitions $before -> $after"
		out=$("${SSH[@]}" 'set -eu -o pipefail; sudo mke2fs -q -t ext4 /dev/vdb; sudo mount /dev/vdb /mnt; sudo sh -c "date > /mnt/timestamp; sync"; sudo cat /mnt/timestamp; sudo umount /mnt' 2>&1) &&
			ok "volume: mke2fs -t ext4, mount, write: $out" || bad "volume use: $out"
		virsh -c "$URI" detach-disk "$NAME" vdb --live >/dev/null
		for _ in $(seq 1 50); do
			after=$("${SSH[@]}" "$count" 2>&1)
			[ "$after" = "$before" ] && break
			sleep 0.2
		done
		[ "$after" = "$before" ] && ok "volume detached" || bad "volume detach: $after"
	fi
fi

if [ "$SHUT" = 1 ] && [ -n "$ready" ]; then
	s0=$(date +%s.%N)
	virsh -c "$URI" shutdown "$NAME" >/dev/null
	off=
	for _ in $(seq 1 300); do
		if virsh -c "$URI" domstate "$NAME" 2>/dev/null | grep -q 'shut off'; then
			off=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $s0}")
			break
		fi
		sleep 0.2
	done
	[ -n "$off" ] && ok "virsh shutdown (ACPI): shut off after $off s" ||
		bad "virsh shutdown: still running after 60 s"
fi

if [ "${SHOW_CONSOLE:-0}" = 1 ] || [ "$FAILS" -gt 0 ]; then
	log "---- console.log (last 40 lines)"
	tail -n 40 "$DIR/console.log" 2>/dev/null
fi
[ "$FAILS" -eq 0 ] && log "all checks passed" || log "$FAILS check(s) failed"
[ "$FAILS" -eq 0 ]
