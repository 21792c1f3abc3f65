#!/usr/bin/env bash
# read-file.sh NAME PATH
#
# Prints the file PATH of guest NAME: while it runs, as the guest sees it (its /run and other
# tmpfs mounts included, through /proc/PID1/root); once it is off, from its disk.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
instance "${1:-}"
path=${2:-}
[[ $path == /* ]] || fatal "give an absolute path in the guest"
if nspawn=$(nspawn_of "$INST") && pid1=$(pid1_of "$nspawn"); then
    # cat inside the guest, so that symlinks resolve against the guest's root, not the host's
    in_guest "$pid1" cat -- "$path"
else
    [ -d "$INST/rootfs" ] || fatal "guest '$NAME' has no disk (never booted, or purged)"
    # chroot, for the same reason
    chroot "$INST/rootfs" /bin/cat -- "$path"
fi
