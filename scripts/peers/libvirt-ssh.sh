#!/usr/bin/env bash
# The loopback SSH front to the libvirt peer, for the `qemu+ssh://` tests (test/peers/libvirt/ssh.sh).
#   libvirt-ssh.sh start   start the libvirt peer if needed, then sshd on 127.0.0.1; prints the
#                          peer's and the SSH front's `export VAR=value` lines (LVPEER_SSH_URI, ...)
#   libvirt-ssh.sh stop    stop sshd (the libvirt peer keeps running: scripts/peers/libvirt.sh stop)
# scripts/test.sh may run this before or after libvirt.sh: a second libvirt start is a reuse.
set -euo pipefail
peer="$(dirname "$0")/../../test/peers/libvirt"
case "${1:-}" in
start)
    bash "$peer/peer.sh" start
    bash "$peer/install.sh" --ssh
    bash "$peer/ssh.sh" start
    ;;
stop) bash "$peer/ssh.sh" stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
