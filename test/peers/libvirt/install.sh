#!/usr/bin/env bash
# Installs what the libvirt peer needs from Debian 12's own packages. Idempotent: when all are
# installed it needs neither the network nor the dpkg lock.
#
#   install.sh          libvirt + QEMU + the guest build tools
#   install.sh --ssh    also the loopback SSH front (openssh-server, openssh-client, netcat-openbsd)
#
# Not libvirt-daemon-system: on Debian 12 it drags in systemd-sysv, polkitd, iptables and a
# default network, and expects systemd to run libvirtd; daemon.sh runs a private one instead.
# The guest kernel and qemu-guest-agent are never installed: build-guest.sh unpacks their .debs.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
need_root

packages=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 busybox-static cpio gzip util-linux)
[ "${1:-}" = --ssh ] && packages+=(openssh-server openssh-client netcat-openbsd)

missing=()
for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done

# Another apt (an engineer's, unattended-upgrades) may hold the dpkg lock: apt waits for it up to
# DPkg::Lock::Timeout, and the whole step is retried, because `apt-get update` has no such wait.
apt_retry() {
    local attempt
    for attempt in 1 2 3 4 5; do
        if DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 "$@" >&2; then return 0; fi
        log "apt-get $1 failed (attempt $attempt of 5; the dpkg lock may be held), retrying in $((attempt * 5)) s"
        sleep $((attempt * 5))
    done
    return 1
}

# build-guest.sh resolves linux-image-amd64 through the apt lists: they must exist (a fresh
# container has none).
lists_ok() { compgen -G '/var/lib/apt/lists/*_Packages*' > /dev/null; }

if [ ${#missing[@]} -gt 0 ] || ! lists_ok; then
    apt_retry update || die "apt-get update failed"
fi
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    # openssh-server's postinst would start the system sshd on port 22 where no policy-rc.d
    # forbids it; ours runs on its own port, so the system one is not wanted.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\n# added by the graceful-vm libvirt peer for one apt-get install\nexit 101\n' > $policy
        chmod 0755 $policy
        added_policy=1
    fi
    rc=0
    apt_retry install -y --no-install-recommends "${missing[@]}" || rc=$?
    [ $added_policy = 1 ] && rm -f $policy
    [ $rc = 0 ] || die "apt-get install ${missing[*]} failed"
fi
log "packages ok: $(virsh --version | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -n 1)"
