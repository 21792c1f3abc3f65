#!/usr/bin/env bash
# Installs the host side of the systemd-guest peer from Debian 12 packages, as root. Idempotent:
# with everything installed it touches no network.
#   systemd-container   systemd-nspawn; it brings the systemd package (journalctl, systemd-analyze)
#                       but does not make systemd PID 1 nor start any daemon
#   debootstrap, debian-archive-keyring, gpgv   build the guest's Debian tree
#   zstd                the cached rootfs tarball
#   util-linux          nsenter, setsid, flock
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

wanted=(systemd-container debootstrap debian-archive-keyring gpgv zstd util-linux)
missing=()
for p in "${wanted[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A stale package list is the usual reason an install fails: refresh once and retry.
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
fi
say "ready: $(systemd-nspawn --version | head -n 1), debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
