#!/bin/bash
# build-guest-image.sh [OUTDIR] - build Kumo's cirros-like test guest from Debian 12 packages.
#
# Output (OUTDIR defaults to build/guest-image in the repository):
#   kumo-cirros.qcow2  compressed qcow2, what gets uploaded to the Image service
#   kumo-cirros.raw    the same disk, raw
#   kumo-cirros.info   kernel version, sizes, checksums
#
# The disk: an MBR (syslinux mbr.bin), partition 1 = FAT16 with SYSLINUX, the Debian kernel and
# a busybox initramfs; partition 2 = ext4 labelled cirros-rootfs with busybox-static, dropbear,
# util-linux lsblk/blkid, mke2fs, a tiny sudo, and the scripts from tools/guest-image/ (init,
# inittab, rcS, cloud-setup, udhcpc hook, curl wrapper...). It boots under SeaBIOS without
# -kernel. Login: user cirros, console password gocubsgo, SSH keys from the metadata service or
# a config-2 config drive.
#
# Built without loop devices and without mounting anything: mkfs.fat + mcopy, mke2fs -d,
# sfdisk and dd on plain files, and the mtools flavour of syslinux. Only apt touches the
# network (`apt-get download` of the newest linux-image-6.1.0-N-amd64, cached in OUTDIR/deb;
# a matching .deb in build/guest-image/deb or /var/cache/apt/archives is used first;
# KERNEL_DEB=path overrides).
# The kernel's vmlinuz and the chosen modules are cached in OUTDIR/kernel-<deb name>.
#
# Idempotent: nothing is rebuilt when both images are newer than this script and every guest
# file it installs from tools/guest-image/ (FORCE=1 rebuilds anyway). Runs as root: the root
# filesystem holds files owned by root and by cirros (1000), and a setuid sudo.
# Packages: see the "compute" group of tools/install-deps.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
GUEST=$HERE/guest-image
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
OUT=${1:-$REPO/build/guest-image}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
QCOW=$OUT/kumo-cirros.qcow2
RAW=$OUT/kumo-cirros.raw

PASSWORD=gocubsgo
DISK_MB=64		# whole disk
BOOT_START=2048		# sectors; partition 1 (FAT16, 16 MiB)
BOOT_SECTORS=32768
ROOT_LABEL=cirros-rootfs

# Modules for the initramfs: their dependencies (and softdeps) are added by modprobe.
# virtio stack (disk, NIC, scsi, rng, balloon); ext4 whose crc32c is only a softdep, so
# crc32c_generic is named; ISO config drive on an IDE cdrom; vfat config drive with the
# kernel's default codepage/iocharset; e1000 NIC; button+evdev for ACPI power-off (acpid).
MODULES=(
	virtio_pci virtio_blk virtio_net virtio_scsi virtio_rng virtio_balloon
	crc32c_generic ext4
	isofs sr_mod ata_piix sd_mod
	vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1
	e1000 button evdev
)
# CPU-specific accelerators that a TCG qemu64 CPU refuses (insmod: No such device)
SKIP_MODULES='^(crc32c-intel|crc32-pclmul|crct10dif-pclmul|ghash-clmulni-intel)$'

log() { echo "build-guest-image: $*"; }
die() { echo "build-guest-image: error: $*" >&2; exit 1; }

# the files from tools/guest-image/ that go into the image
GUEST_FILES=(init inittab rcS rcK cloud-setup tty-getty udhcpc.script acpi-power json-flatten curl
	profile issue syslinux.cfg sudo.c)

[ "$(id -u)" -eq 0 ] || die "run as root (files owned by cirros, a setuid sudo and busybox)"

# one build at a time per OUTDIR; a second caller waits, then finds the image up to date
exec 9>"$OUT/.lock"
flock 9

# ---- up to date?
if [ "${FORCE:-0}" != 1 ] && [ -s "$QCOW" ] && [ -s "$RAW" ]; then
	inputs=("$SELF")
	for f in "${GUEST_FILES[@]}"; do inputs+=("$GUEST/$f"); done
	newer=$(find "${inputs[@]}" -newer "$QCOW" -print -quit; find "${inputs[@]}" -newer "$RAW" -print -quit)
	if [ -z "$newer" ]; then
		log "up to date: $QCOW"
		exit 0
	fi
fi

for tool in dpkg-deb depmod modprobe cpio gzip mkfs.fat mcopy mke2fs sfdisk syslinux \
	qemu-img openssl gcc; do
	command -v "$tool" >/dev/null || die "$tool not found (run tools/install-deps.sh)"
done
for f in /bin/busybox /usr/sbin/dropbear /usr/bin/dropbearkey /usr/bin/lsblk /usr/sbin/blkid \
	/usr/sbin/mke2fs /usr/lib/syslinux/mbr/mbr.bin; do
	[ -e "$f" ] || die "$f missing (run tools/install-deps.sh)"
done
for f in "${GUEST_FILES[@]}"; do
	[ -f "$GUEST/$f" ] || die "$GUEST/$f missing"
done
/bin/busybox --list | grep -qx switch_root || die "/bin/busybox is not busybox-static"
# busybox (the dynamic one) and busybox-static both ship /bin/busybox; make sure it is static
if ldd /bin/busybox >/dev/null 2>&1; then
	die "/bin/busybox is dynamically linked; install busybox-static"
fi

T0=$(date +%s.%N)

# ---- the kernel .deb
newest_cached() {	# newest .deb for package $1 among the remaining arguments' dirs
	local pkg=$1; shift
	local d
	for d in "$@"; do
		ls "$d/${pkg}"_*_amd64.deb 2>/dev/null || true
	done | sort -V | tail -n 1
}

kernel_deb() {
	if [ -n "${KERNEL_DEB:-}" ]; then
		[ -f "$KERNEL_DEB" ] || die "KERNEL_DEB=$KERNEL_DEB not found"
		echo "$KERNEL_DEB"
		return
	fi
	local pkg deb cand
	pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n 1 || true)
	mkdir -p "$OUT/deb"
	if [ -z "$pkg" ]; then
		# no apt lists: any cached 6.1 kernel will do
		deb=$(for d in "$OUT/deb" /var/cache/apt/archives; do
			ls "$d"/linux-image-6.1.0-[0-9]*-amd64_*_amd64.deb 2>/dev/null || true
		done | grep -E '/linux-image-6\.1\.0-[0-9]+-amd64_' | sort -V | tail -n 1)
		[ -n "$deb" ] || die "no linux-image-6.1.0-N-amd64 known to apt-cache nor cached"
		echo "$deb"
		return
	fi
	local ver
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	local want=${pkg}_${ver//:/%3a}_amd64.deb
	if [ -f "$OUT/deb/$want" ]; then
		echo "$OUT/deb/$want"
		return
	fi
	local d found=
	for d in "$REPO/build/guest-image/deb" /var/cache/apt/archives; do
		[ -f "$d/$want" ] && { found=$d/$want; break; }
	done
	if [ -n "$found" ]; then
		cp "$found" "$OUT/deb/$want.tmp"
		mv "$OUT/deb/$want.tmp" "$OUT/deb/$want"
	else
		log "downloading $pkg $ver with apt-get download" >&2
		# a directory the _apt sandbox user may write to, or apt warns and downloads as root
		rm -rf "$OUT/deb/.dl"
		mkdir -p "$OUT/deb/.dl"
		id _apt >/dev/null 2>&1 && chown _apt "$OUT/deb/.dl"
		(cd "$OUT/deb/.dl" && apt-get download -q "$pkg=$ver" >&2) ||
			die "apt-get download $pkg failed"
		mv "$OUT/deb/.dl"/*.deb "$OUT/deb/"
		rm -rf "$OUT/deb/.dl"
	fi
	cand=$(newest_cached "$pkg" "$OUT/deb")
	[ -n "$cand" ] || die "apt-get download $pkg left no .deb in $OUT/deb"
	# keep one kernel in the cache
	find "$OUT/deb" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$cand" -delete
	echo "$cand"
}

DEB=$(kernel_deb)
DEBNAME=$(basename "$DEB" .deb)
log "kernel package: $DEB"

W=$OUT/work
rm -rf "$W"
mkdir -p "$W"
cleanup() { [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$W"; }
trap cleanup EXIT

# ---- kernel + modules, cached per .deb and module list
KEY=$(printf '%s\n' "$DEBNAME" "${MODULES[@]}" "$SKIP_MODULES" | sha1sum | cut -c1-12)
KC=$OUT/kernel-$DEBNAME-$KEY
if [ ! -f "$KC/done" ]; then
	log "unpacking $DEBNAME"
	rm -rf "$OUT"/kernel-*
	mkdir -p "$W/k" "$KC.tmp/modules"
	dpkg-deb -x "$DEB" "$W/k"
	KVER=$(ls "$W/k/lib/modules" | head -n 1)
	[ -n "$KVER" ] && [ -f "$W/k/boot/vmlinuz-$KVER" ] || die "no kernel in $DEB"
	depmod -b "$W/k" "$KVER"
	: >"$KC.tmp/modules/load.order"
	for m in "${MODULES[@]}"; do
		modprobe -d "$W/k" -S "$KVER" --show-depends "$m" ||
			die "module $m not in $DEBNAME"
	done | awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' >"$W/mods.txt"
	while read -r path; do
		f=$(basename "$path")
		case "$f" in
		*.ko.xz) xz -dc "$path" >"$KC.tmp/modules/${f%.xz}"; f=${f%.xz} ;;
		*.ko.zst) zstd -qdc "$path" >"$KC.tmp/modules/${f%.zst}"; f=${f%.zst} ;;
		*) cp "$path" "$KC.tmp/modules/$f" ;;
		esac
		if echo "${f%.ko}" | grep -Eq "$SKIP_MODULES"; then
			rm -f "$KC.tmp/modules/$f"
			continue
		fi
		echo "$f" >>"$KC.tmp/modules/load.order"
	done <"$W/mods.txt"
	cp "$W/k/boot/vmlinuz-$KVER" "$KC.tmp/vmlinuz"
	echo "$KVER" >"$KC.tmp/kver"
	touch "$KC.tmp/done"
	mv "$KC.tmp" "$KC"
	rm -rf "$W/k"
fi
KVER=$(cat "$KC/kver")
log "kernel $KVER, $(wc -l <"$KC/modules/load.order") modules: $(tr '\n' ' ' <"$KC/modules/load.order")"

# ---- initramfs
I=$W/initramfs
mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/sys" "$I/newroot" "$I/lib/modules"
cp /bin/busybox "$I/bin/busybox"
ln -s busybox "$I/bin/sh"
cp "$KC"/modules/* "$I/lib/modules/"
install -m 755 "$GUEST/init" "$I/init"
(cd "$I" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -9n >"$W/initrd.gz"

# ---- root filesystem
R=$W/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/acpi/PWRF,etc/dropbear,dev,proc,sys}
mkdir -p "$R"/{run,tmp,mnt,media,root,home/cirros,var/log,var/lib/cloud,usr/share/udhcpc}
mkdir -p "$R"/{usr/local/bin,usr/local/sbin}
ln -s ../run "$R/var/run"
ln -s ../run/lock "$R/var/lock"
chmod 1777 "$R/tmp"
chmod 700 "$R/root"
# setuid root, as in cirros: busybox itself keeps root only for its "suid maybe/require"
# applets (ping, traceroute, su, passwd, mount...) and drops it for all others. ash prefers
# applets to files in PATH (FEATURE_SH_STANDALONE), so `ping` as cirros is always the applet,
# which needs a raw socket. No /etc/busybox.conf: with one, busybox-static 1.35 segfaults in
# every applet that drops privileges.
install -m 4755 /bin/busybox "$R/bin/busybox"
/bin/busybox --list-full | while read -r app; do
	[ "$app" = bin/busybox ] && continue
	mkdir -p "$R/$(dirname "$app")"
	ln -sf /bin/busybox "$R/$app"
done

# host binaries and the shared libraries they need (ldd), same paths as on the host
copy_bin() {	# copy_bin SRC DEST [MODE]
	rm -f "$R$2"
	install -D -m "${3:-755}" "$1" "$R$2"
	ldd "$1" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
		[ -e "$R$lib" ] || install -D -m 644 "$(readlink -f "$lib")" "$R$lib"
	done
}
copy_bin /usr/sbin/dropbear /usr/sbin/dropbear
copy_bin /usr/bin/dropbearkey /usr/bin/dropbearkey
copy_bin /usr/bin/lsblk /bin/lsblk
copy_bin /usr/sbin/blkid /sbin/blkid
copy_bin /usr/sbin/mke2fs /sbin/mke2fs
for t in ext2 ext3 ext4; do ln -sf mke2fs "$R/sbin/mkfs.$t"; done
install -m 644 /etc/mke2fs.conf "$R/etc/mke2fs.conf"
chmod 755 "$R"/lib64/ld-linux-x86-64.so.2

# sudo: compiled here, setuid root (it only needs libc, already copied for dropbear)
gcc -Os -s -Wall -Wextra -Werror -o "$W/sudo" "$GUEST/sudo.c"
copy_bin "$W/sudo" /usr/bin/sudo 4755

# scripts and config from tools/guest-image/
install -m 644 "$GUEST/inittab" "$R/etc/inittab"
install -m 755 "$GUEST/rcS" "$R/etc/init.d/rcS"
install -m 755 "$GUEST/rcK" "$R/etc/init.d/rcK"
install -m 755 "$GUEST/cloud-setup" "$R/sbin/cloud-setup"
install -m 755 "$GUEST/tty-getty" "$R/sbin/tty-getty"
install -D -m 755 "$GUEST/udhcpc.script" "$R/etc/udhcpc/default.script"
ln -s /etc/udhcpc/default.script "$R/usr/share/udhcpc/default.script"
install -m 755 "$GUEST/acpi-power" "$R/etc/acpi/PWRF/00000080"
install -m 755 "$GUEST/json-flatten" "$R/usr/bin/json-flatten"
install -m 755 "$GUEST/curl" "$R/usr/bin/curl"
install -m 644 "$GUEST/profile" "$R/etc/profile"
install -m 644 "$GUEST/issue" "$R/etc/issue"

HASH=$(openssl passwd -6 -salt kumocirros "$PASSWORD")
cat >"$R/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
cirros:x:1000:1000:cirros:/home/cirros:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<EOF
root:x:0:
tty:x:5:
disk:x:6:
wheel:x:10:cirros
sudo:x:27:cirros
cirros:x:1000:
nogroup:x:65534:
EOF
cat >"$R/etc/shadow" <<EOF
root:*:19000:0:99999:7:::
cirros:$HASH:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 600 "$R/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$R/etc/shells"
echo cirros >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tcirros\n' >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
printf '/dev/root\t/\text4\trw\t0 1\n' >"$R/etc/fstab"
ln -s /proc/mounts "$R/etc/mtab"
cat >"$R/etc/os-release" <<EOF
NAME="Kumo cirros"
ID=kumo-cirros
PRETTY_NAME="Kumo cirros (Debian 12 kernel $KVER, busybox)"
VERSION_ID=1
EOF
chown -R 1000:1000 "$R/home/cirros"
chmod 755 "$R/home/cirros"

# ---- partitions as plain files, then the disk
ROOT_START=$((BOOT_START + BOOT_SECTORS))
ROOT_SECTORS=$((DISK_MB * 2048 - ROOT_START))
cp "$GUEST/syslinux.cfg" "$W/syslinux.cfg"
mkfs.fat -C -F 16 -n BOOT -i 4b554d4f -h "$BOOT_START" "$W/p1.img" $((BOOT_SECTORS / 2)) >/dev/null
mcopy -i "$W/p1.img" "$KC/vmlinuz" ::vmlinuz
mcopy -i "$W/p1.img" "$W/initrd.gz" ::initrd.gz
mcopy -i "$W/p1.img" "$W/syslinux.cfg" ::syslinux.cfg
mke2fs -q -F -t ext4 -T default -I 256 -L "$ROOT_LABEL" -d "$R" -E root_owner=0:0 \
	"$W/p2.img" $((ROOT_SECTORS / 2))k >/dev/null

truncate -s "${DISK_MB}M" "$W/disk.img"
sfdisk -q "$W/disk.img" >/dev/null <<EOF
label: dos
label-id: 0x4b554d4f
start=$BOOT_START, size=$BOOT_SECTORS, type=6, bootable
start=$ROOT_START, size=$ROOT_SECTORS, type=83
EOF
dd if="$W/p1.img" of="$W/disk.img" bs=512 seek="$BOOT_START" conv=notrunc,sparse status=none
dd if="$W/p2.img" of="$W/disk.img" bs=512 seek="$ROOT_START" conv=notrunc,sparse status=none
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$W/disk.img" bs=440 count=1 conv=notrunc status=none
syslinux --install --offset $((BOOT_START * 512)) "$W/disk.img"

qemu-img convert -f raw -O qcow2 -c "$W/disk.img" "$W/disk.qcow2"
mv -f "$W/disk.img" "$RAW"
mv -f "$W/disk.qcow2" "$QCOW"

T1=$(date +%s.%N)
{
	echo "kernel_deb=$DEBNAME"
	echo "kernel=$KVER"
	echo "raw_bytes=$(stat -c %s "$RAW")"
	echo "qcow2_bytes=$(stat -c %s "$QCOW")"
	echo "qcow2_md5=$(md5sum "$QCOW" | cut -d' ' -f1)"
	echo "qcow2_sha256=$(sha256sum "$QCOW" | cut -d' ' -f1)"
	echo "initrd_bytes=$(stat -c %s "$W/initrd.gz")"
	echo "rootfs_kib_used=$(du -sk "$R" | cut -f1)"
	echo "build_seconds=$(awk "BEGIN{printf \"%.1f\", $T1-$T0}")"
} >"$OUT/kumo-cirros.info"
log "built $QCOW ($(stat -c %s "$QCOW") bytes) and $RAW in $(awk "BEGIN{printf \"%.1f\", $T1-$T0}") s"
