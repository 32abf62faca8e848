#!/bin/bash
# libvirt-setup.sh - make qemu:///system answer on a machine whose PID 1 is not systemd.
#
# Only libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients are installed (not
# libvirt-daemon-system), so nothing creates libvirt's users, directories or starts daemons.
# This script, idempotently:
#   - creates groups kvm and libvirt-qemu and the system user libvirt-qemu (libvirtd's built-in
#     qemu user/group; without them the QEMU driver fails to initialise and libvirtd exits),
#   - creates /var/log/libvirt /run/libvirt /var/lib/libvirt/qemu /var/cache/libvirt,
#   - starts `virtlogd -d` and then `libvirtd -d` unless they already run (pid file + live
#     process), with a clean environment and logs in /var/log/libvirt/*.log; virtlogd must come
#     first, or libvirtd's domain starts hang,
#   - waits (30 s at most) until `virsh -c qemu:///system version` answers.
# Exit 0 when libvirt answers, 1 otherwise. stdout gets exactly one line, virt_type=kvm or
# virt_type=qemu (kvm only when /proc/cpuinfo has vmx or svm AND /dev/kvm opens), so
# `eval "$(tools/libvirt-setup.sh)"` works; progress goes to stderr.
set -euo pipefail

URI=qemu:///system
TIMEOUT=${LIBVIRT_SETUP_TIMEOUT:-30}
CLEAN_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME=/root)

log() { echo "libvirt-setup: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
for b in libvirtd virtlogd virsh; do
	command -v "$b" >/dev/null || { log "$b not found (run tools/install-deps.sh)"; exit 1; }
done

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }

# pid file names a live process whose command is $2
running() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	grep -q "$2" "/proc/$pid/comm" 2>/dev/null
}

# ---- users and groups
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent group libvirt >/dev/null || groupadd --system libvirt
if ! getent passwd libvirt-qemu >/dev/null; then
	useradd --system --gid kvm --groups libvirt-qemu --home-dir /var/lib/libvirt \
		--no-create-home --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
	log "created user libvirt-qemu"
fi

# ---- directories
mkdir -p /var/log/libvirt/qemu /run/libvirt /var/lib/libvirt/qemu /var/lib/libvirt/images \
	/var/cache/libvirt/qemu
chmod 755 /var/lib/libvirt /var/lib/libvirt/images

# ---- daemons
if answers; then
	log "libvirt already answers on $URI"
else
	if running /run/virtlogd.pid virtlogd; then
		log "virtlogd already running (pid $(cat /run/virtlogd.pid))"
	else
		log "starting virtlogd"
		"${CLEAN_ENV[@]}" LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/virtlogd.log" \
			virtlogd -d </dev/null >/dev/null 2>&1
	fi
	if running /run/libvirtd.pid libvirtd; then
		log "libvirtd already running (pid $(cat /run/libvirtd.pid)), waiting for it"
	else
		log "starting libvirtd"
		"${CLEAN_ENV[@]}" LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
			libvirtd -d </dev/null >/dev/null 2>&1
	fi
	deadline=$((SECONDS + TIMEOUT))
	until answers; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "libvirt does not answer on $URI after ${TIMEOUT}s; see /var/log/libvirt/libvirtd.log"
			tail -n 5 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
			exit 1
		fi
		sleep 0.5
	done
	log "libvirt answers on $URI"
fi
virsh -c "$URI" version 2>/dev/null | sed -n '/./s/^/libvirt-setup: /p' >&2

# ---- hardware acceleration
virt_type=qemu
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	virt_type=kvm
fi
log "KVM $([ "$virt_type" = kvm ] && echo usable || echo "not usable: guests run under TCG")"
echo "virt_type=$virt_type"
