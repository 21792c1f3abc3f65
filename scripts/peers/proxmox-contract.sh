#!/usr/bin/env bash
# Prerequisites of the Proxmox VE contract server (test/contracts/proxmox), which itself runs
# inside the jest process: the openssl CLI (it makes the server's throw-away certificate) and
# the published schema excerpt in ../shared/contracts/proxmox/.
#   proxmox-contract.sh start   install openssl if missing (apt, as root), print
#                               `export PVE_CONTRACT_SCHEMA=...`; logs go to stderr
#   proxmox-contract.sh stop    nothing to stop
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
schema="$here/../../../shared/contracts/proxmox/pve-apidata-qemu-status-and-tasks.excerpt.json"

case "${1:-}" in
  start)
    [[ -f $schema ]] || { echo "proxmox contract: schema excerpt not found at $schema (shared/ must sit beside the checkout)" >&2; exit 1; }
    if ! command -v openssl >/dev/null 2>&1; then
      [[ $(id -u) == 0 ]] || { echo "proxmox contract: openssl is missing and installing it needs root" >&2; exit 1; }
      # Other peers may hold the dpkg lock at the same moment: retry.
      for attempt in 1 2 3 4 5 6; do
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl; } >&2 && break
        [[ $attempt == 6 ]] && { echo "proxmox contract: installing openssl failed" >&2; exit 1; }
        sleep 10
      done
    fi
    openssl version >&2
    echo "export PVE_CONTRACT_SCHEMA='$(cd "$(dirname "$schema")" && pwd)/$(basename "$schema")'"
    ;;
  stop)
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
