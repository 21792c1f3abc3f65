#!/usr/bin/env bash
# The libvirt + QEMU peer for the libvirt driver and CLI tests (../shared/peers/libvirt).
#   libvirt.sh start   install (apt, idempotent), build the test guests, start a private
#                      libvirtd; print `export VAR=value` lines on stdout, log to stderr;
#                      exit non-zero when the peer cannot run here.
#   libvirt.sh stop    destroy its guests, stop the daemon, delete its state.
# State lives in $LVPEER_STATE (default /tmp/libvirt-peer), so a second `start` reuses the
# running daemon and the cached guest images (~0.1 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peer=$(cd "$here/../../../shared/peers/libvirt" 2>/dev/null && pwd) || {
    echo "libvirt peer: ../shared/peers/libvirt not found beside the repository" >&2
    exit 1
}
state=${LVPEER_STATE:-/tmp/libvirt-peer}

case "${1:-}" in
start)
    if [ "$(id -u)" != 0 ]; then
        echo "libvirt peer: needs root (private libvirtd in its own mount namespace)" >&2
        exit 1
    fi
    sh "$peer/install.sh" >&2
    guest="$state/guest"
    # Rebuilding the images takes ~4 s even from cache: only when missing or older than the recipe.
    if [ -s "$guest/vmlinuz" ] && [ -s "$guest/initramfs-graceful.cpio.gz" ] && [ -s "$guest/initramfs-hung.cpio.gz" ] &&
        [ "$guest/guest.env" -nt "$peer/build-guest.sh" ]; then
        echo "libvirt peer: guest images in $guest are up to date" >&2
    else
        sh "$peer/build-guest.sh" "$guest" >&2
    fi
    uri=$(LVPEER_STATE="$state" sh "$peer/start.sh" "$state" | tail -n 1)
    [ -n "$uri" ] || { echo "libvirt peer: start.sh printed no URI" >&2; exit 1; }
    mkdir -p "$state/guests"
    # Single-quoted so the `?socket=` URI survives being sourced by a shell.
    q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
    echo "export LVPEER_URI=$(q "$uri")"
    echo "export LVPEER_STATE=$(q "$state")"
    echo "export LVPEER_GUEST_DIR=$(q "$state/guest")"
    echo "export LVPEER_LOG_DIR=$(q "$state/guests")"
    echo "export LVPEER_SCRIPTS=$(q "$peer")"
    echo "export LVPEER_DOMAIN_TYPE=$(q "${LVPEER_DOMAIN_TYPE:-qemu}")"
    ;;
stop)
    sh "$peer/stop.sh" --purge "$state" >&2
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
