#!/usr/bin/env bash
# The libvirt + QEMU test peer (scripts/peers/libvirt.sh calls this).
#
#   peer.sh start        install (apt), build or reuse the guest image, start or reuse the private
#                        libvirtd; prints `export VAR=value` lines on stdout, logs on stderr, exits
#                        non-zero when the peer cannot run here (not root, no namespaces, ...)
#   peer.sh stop [--all] destroy its guests, stop the daemon, delete $LVPEER_STATE; --all also
#                        deletes the download and image cache ($LVPEER_CACHE)
#   peer.sh smoke        boot guests and check each behaviour end to end (smoke.sh)
#
# What the tests get (test/libvirt/guests.ts):
#   LVPEER_URI          qemu:///system?socket=$LVPEER_STATE/run/libvirt-sock
#   LVPEER_STATE        the daemon's state directory (test-slots/ lives here too)
#   LVPEER_GUEST_DIR    the guest image (vmlinuz, initramfs.cpio.gz), for domain-xml.sh
#   LVPEER_LOG_DIR      where each guest's NAME.hook.log and NAME.console.log are written
#   LVPEER_SCRIPTS      this directory (domain-xml.sh)
#   LVPEER_DOMAIN_TYPE  qemu (TCG) unless set to kvm before `start`
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

case "${1:-}" in
start)
    need_root
    bash "$peer_dir/install.sh"
    guest=$(bash "$peer_dir/build-guest.sh")
    uri=$(bash "$peer_dir/daemon.sh" start)
    echo "export LVPEER_URI=$(quote "$uri")"
    echo "export LVPEER_STATE=$(quote "$LVPEER_STATE")"
    echo "export LVPEER_GUEST_DIR=$(quote "$guest")"
    echo "export LVPEER_LOG_DIR=$(quote "$LVPEER_STATE/guests")"
    echo "export LVPEER_SCRIPTS=$(quote "$peer_dir")"
    echo "export LVPEER_DOMAIN_TYPE=$(quote "${LVPEER_DOMAIN_TYPE:-qemu}")"
    ;;
stop)
    need_root
    bash "$peer_dir/ssh.sh" stop
    bash "$peer_dir/daemon.sh" stop
    if [ "${2:-}" = --all ]; then
        rm -rf "$LVPEER_CACHE"
        log "removed $LVPEER_CACHE"
    fi
    ;;
smoke)
    need_root
    exec bash "$peer_dir/smoke.sh"
    ;;
*)
    echo "usage: $0 start | stop [--all] | smoke" >&2
    exit 2
    ;;
esac
