#!/usr/bin/env bash
# The systemd + cloud-init guest peer (test/peers/systemd-guest): Debian containers with systemd as
# PID 1 that boot the user-data a test gives and shut down as a hypervisor asks them to.
#   systemd-guest.sh start   install (apt, idempotent) and build the template rootfs (cached);
#                            print `export SGP_...=value` lines on stdout, log to stderr;
#                            exit non-zero when the peer cannot run here (not root, no nspawn).
#   systemd-guest.sh stop    hard-stop and purge the guests this checkout's tests left running.
set -euo pipefail
peer=$(cd "$(dirname "$0")/../../test/peers/systemd-guest" && pwd)

case "${1:-}" in
start)
    if [ "$(id -u)" != 0 ]; then
        echo "systemd-guest peer: needs root (systemd-nspawn, nsenter, cgroups)" >&2
        exit 1
    fi
    bash "$peer/install.sh" >&2
    template=$(bash "$peer/build-rootfs.sh" | tail -n 1)
    [ -f "$template/etc/os-release" ] || { echo "systemd-guest peer: build-rootfs.sh gave no rootfs" >&2; exit 1; }
    q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
    echo "export SGP_PEER_DIR=$(q "$peer")"
    echo "export SGP_TEMPLATE_ROOTFS=$(q "$template")"
    ;;
stop)
    bash "$peer/stop.sh" --all --purge >&2
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
