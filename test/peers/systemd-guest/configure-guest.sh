#!/usr/bin/env bash
# configure-guest.sh ROOT: the guest side of the recipe, applied by build-rootfs.sh to a fresh
# debootstrap tree. Part of the template's KEY: editing this file builds a new template.
set -euo pipefail
r=${1:?usage: configure-guest.sh ROOT}

# cloud-init reads only the NoCloud seed run.sh writes (a real VM would also probe clouds: slow
# and useless here).
cat >"$r/etc/cloud/cloud.cfg.d/90-graceful-vm-guest-peer.cfg" <<'CFG'
# graceful-vm systemd-guest peer: user-data comes from /var/lib/cloud/seed/nocloud (run.sh)
datasource_list: [ NoCloud, None ]
CFG

# Debian's cloud.cfg runs the locale module, which sets en_US.UTF-8; Debian's locale-gen ignores
# the locale passed to it, so unless the locale exists already the module fails and cloud-init
# reports status: error for every guest.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$r/etc/locale.gen"
chroot "$r" /usr/sbin/locale-gen >/dev/null

# Identity is per guest: run.sh writes a machine-id, cloud-init sets the hostname from meta-data.
: >"$r/etc/machine-id"
echo localhost >"$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"

# Guests have loopback only (systemd-nspawn --private-network): no resolver to point at.
echo "# graceful-vm systemd-guest peer: no network but loopback" >"$r/etc/resolv.conf"

# A persistent journal: the host reads it with journalctl -D, also after the guest is off.
mkdir -p "$r/var/log/journal"

# No login prompt on the console, which the host only reads.
chroot "$r" systemctl mask console-getty.service >/dev/null 2>&1

# Trim what a guest never reads.
rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/lib/apt/lists/* \
    "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/log/*.log "$r"/debootstrap
find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
