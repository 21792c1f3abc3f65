# shellcheck shell=bash
# Sourced by the libvirt peer's scripts: where things live, logging, small process helpers.
#
#   LVPEER_STATE  the private libvirtd's state (sockets, domains, logs); deleted by `stop`.
#                 Default /tmp/graceful-vm-peers/libvirt, apart from any older peer elsewhere.
#   LVPEER_CACHE  downloads and built guest images, kept across `stop` so a restart is warm;
#                 deleted by `stop --all`. Default /tmp/graceful-vm-peers/cache/libvirt.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LVPEER_STATE=${LVPEER_STATE:-/tmp/graceful-vm-peers/libvirt}
LVPEER_CACHE=${LVPEER_CACHE:-/tmp/graceful-vm-peers/cache/libvirt}
# shellcheck disable=SC2034 # used by the scripts that source this
peer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "libvirt peer: $*" >&2; }
die() {
    log "$*"
    exit 1
}

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (apt packages, a private libvirtd in its own mount namespace)"
}

# A live, non-zombie process whose command name starts with $2. Used before signalling a PID
# read from a pid file, so a recycled PID of someone else's process is never touched.
is_proc() {
    local pid=$1 name=$2
    [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name"* ]]
}

# Ends one process by PID: TERM, then KILL after $3 tenths of a second.
end_proc() {
    local pid=$1 name=$2 tenths=${3:-100} i=0
    is_proc "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while is_proc "$pid" "$name" && [ $i -lt "$tenths" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if is_proc "$pid" "$name"; then
        log "$name $pid ignored SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Shell-quotes a value for an `export` line that scripts/test.sh sources (URIs contain ? and &).
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
