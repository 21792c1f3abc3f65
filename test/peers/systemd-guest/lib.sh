# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# Sourced by every script of the systemd-guest peer; defines paths and helpers, runs nothing.
#
# Where things live (each overridable from the environment):
#   SGP_CACHE_DIR  /var/cache/graceful-vm-guest-peer   downloaded .debs and rootfs tarballs; survives reboots
#   SGP_BASE       /tmp/graceful-vm-guest-peer         unpacked templates and running guests
#   templates      $SGP_BASE/templates/KEY/rootfs      one per recipe (KEY hashes the recipe), shared
#   instances      $SGP_BASE/instances-CHECKOUT/NAME   one per booted guest; CHECKOUT hashes this directory,
#                                                      so `stop.sh --all` in one checkout never touches the
#                                                      guests another checkout of the repository started

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
SGP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGP_CACHE_DIR=${SGP_CACHE_DIR:-/var/cache/graceful-vm-guest-peer}
SGP_BASE=${SGP_BASE:-/tmp/graceful-vm-guest-peer}
SGP_CHECKOUT=$(printf '%s' "$SGP_DIR" | sha256sum | cut -c1-8)
SGP_INSTANCES=${SGP_INSTANCES:-$SGP_BASE/instances-$SGP_CHECKOUT}
# The file that marks a directory as an instance of ours: purge deletes nothing without it.
SGP_MARK=.graceful-vm-guest
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

SELF=$(basename "$0")
say() { printf '%s: %s\n' "$SELF" "$*" >&2; }
fatal() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }
require_root() { [ "$(id -u)" = 0 ] || fatal "needs root (systemd-nspawn, nsenter, cgroups)"; }
now() { date +%s.%N; }
# seconds A B: B - A with two decimals (B defaults to now)
seconds() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.2f", b - a }'; }
name_ok() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,62}$ ]]; }

# instance NAME_OR_DIR: sets INST (state directory) and NAME
instance() {
    [ -n "${1:-}" ] || fatal "which guest? give its NAME"
    if [[ $1 == */* ]]; then
        INST=$(cd "$1" 2>/dev/null && pwd) || fatal "no instance directory $1"
        NAME=$(cat "$INST/name" 2>/dev/null || basename "$INST")
    else
        name_ok "$1" || fatal "bad guest name '$1' (letters, digits, '-', at most 63)"
        NAME=$1
        INST=$SGP_INSTANCES/$1
    fi
}

cmdline_of() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null; }

# owned_nspawn PID INST: PID is alive and is the systemd-nspawn that booted INST/rootfs
owned_nspawn() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    local c
    c=$(cmdline_of "$1") || return 1
    [[ $c == systemd-nspawn* && $c == *" --directory=$2/rootfs "* ]]
}

# owned_launcher PID INST: PID is alive and is launch.sh for INST
owned_launcher() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    local c
    c=$(cmdline_of "$1") || return 1
    [[ $c == *launch.sh\ "$2"\ * ]]
}

# nspawn_of INST: prints the PID of INST's running systemd-nspawn, or fails
nspawn_of() {
    local pid
    pid=$(cat "$1/nspawn.pid" 2>/dev/null) || return 1
    owned_nspawn "$pid" "$1" && echo "$pid"
}

# pid1_of NSPAWN_PID: the guest's PID 1 (systemd) as a host PID: nspawn's only child
pid1_of() {
    local kids
    read -r -a kids 2>/dev/null <"/proc/$1/task/$1/children" || true
    [ -n "${kids[0]:-}" ] && echo "${kids[0]}"
}

# in_guest PID1 CMD...: CMD inside the guest (its namespaces and root) with a clean environment
in_guest() {
    local pid1=$1
    shift
    nsenter --target "$pid1" --mount --uts --ipc --net --pid --cgroup --root --wd -- \
        /usr/bin/env -i PATH="$GUEST_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# On a host whose PID 1 is not systemd, nspawn cannot get a scope of its own and splits the cgroup
# it starts in: each guest gets a cgroup of its own (in every hierarchy systemd uses).
host_has_systemd() { [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }

# cgroup_roots: "MOUNTPOINT KEY" per hierarchy, KEY as in /proc/self/cgroup ("0::" or "name=systemd")
cgroup_roots() {
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        echo "/sys/fs/cgroup 0::"
        return
    fi
    [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && echo "/sys/fs/cgroup/unified 0::"
    [ -e /sys/fs/cgroup/systemd/cgroup.procs ] && echo "/sys/fs/cgroup/systemd name=systemd"
    return 0
}

# cgroups_remove INST: remove the cgroups listed in INST/cgroups (deepest first); only ours
cgroups_remove() {
    local cg
    [ -f "$1/cgroups" ] || return 0
    while read -r cg; do
        case $cg in /sys/fs/cgroup/*/gvm-guest-*|/sys/fs/cgroup/gvm-guest-*) ;; *) continue ;; esac
        [ -d "$cg" ] || continue
        find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done <"$1/cgroups"
}

# disk_release INST: unmount the guest's overlay disk (run.sh mounts it at INST/rootfs), if mounted
disk_release() {
    [ -d "$1/rootfs" ] && mountpoint -q "$1/rootfs" || return 0
    umount "$1/rootfs" 2>/dev/null || umount -l "$1/rootfs"
}
