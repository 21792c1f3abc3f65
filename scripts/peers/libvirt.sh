#!/usr/bin/env bash
# The libvirt + QEMU peer for the libvirt driver and CLI tests: test/peers/libvirt/ (see its README).
#   libvirt.sh start   install, build the test guest, start a private libvirtd; prints
#                      `export VAR=value` lines for scripts/test.sh, logs to stderr
#   libvirt.sh stop    destroy its guests, stop the daemon, delete its state
# State in $LVPEER_STATE (default /tmp/graceful-vm-peers/libvirt); a second `start` reuses the
# running daemon and the cached guest image.
exec bash "$(dirname "$0")/../../test/peers/libvirt/peer.sh" "$@"
