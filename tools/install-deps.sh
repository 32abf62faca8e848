#!/bin/bash
# install-deps.sh - install every Debian 12 package Kumo needs to build, run and test.
#
# Idempotent and fast on re-runs: packages already installed (dpkg -s) are
# skipped, and `apt-get update` runs only when something is missing.
# Needs root (or sudo). Never starts services: MariaDB is started on demand by
# tools/mariadb-test-setup.sh, Kumo by tools/up.sh.
set -euo pipefail

PKGS=(
	# build
	make meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev
	libmariadb-dev libssl-dev librabbitmq-dev libvirt-dev uuid-dev libcrypt-dev
	# run and test
	python3-openstackclient python3-glanceclient python3-neutronclient
	python3-pytest python3-requests tempest python3-os-testr
	mariadb-server mariadb-client sqlite3 wrk curl jq procps ca-certificates
	# the network data plane (agents) and its tests: namespaces, nftables, DHCP
	iproute2 nftables dnsmasq-base dnsmasq-utils udhcpc iputils-ping
	# compute: libvirt + QEMU, the guest image (tools/build-guest-image.sh,
	# tools/libvirt-setup.sh); seabios and ipxe-qemu come as qemu-system-x86 deps
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
	busybox-static dropbear-bin syslinux syslinux-common mtools dosfstools e2fsprogs fdisk
	kmod cpio openssl genisoimage openssh-client python3-novaclient
	novnc chromium   # the console proxy's noVNC files; its headless browser test
)

missing=()
for p in "${PKGS[@]}"; do
	# "install ok installed" only: a package removed but not purged is missing
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
	SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
echo "install-deps: done"
