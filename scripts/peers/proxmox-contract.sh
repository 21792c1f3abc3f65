#!/usr/bin/env bash
# Prerequisites of the Proxmox VE contract server (test/contracts/proxmox), which itself runs
# inside the jest process and reads its schema fixture from test/contracts/proxmox/fixtures/:
# the openssl CLI (it makes the server's throw-away certificate) and python3-proxmoxer (the
# real client the contract is held to, test/contracts/proxmox/realClient.test.ts).
#   proxmox-contract.sh start   install what is missing (apt, as root); logs go to stderr
#   proxmox-contract.sh stop    nothing to stop
set -euo pipefail

missing() {
  local packages=()
  command -v openssl >/dev/null 2>&1 || packages+=(openssl)
  /usr/bin/python3 -c 'import proxmoxer, requests' >/dev/null 2>&1 || packages+=(python3-proxmoxer python3-requests)
  echo "${packages[@]}"
}

case "${1:-}" in
  start)
    read -r -a packages <<<"$(missing)"
    if (( ${#packages[@]} > 0 )); then
      [[ $(id -u) == 0 ]] || { echo "proxmox contract: ${packages[*]} missing and installing needs root" >&2; exit 1; }
      # Other peers may hold the dpkg lock at the same moment: retry.
      for attempt in 1 2 3 4 5 6; do
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } >&2 && break
        [[ $attempt == 6 ]] && { echo "proxmox contract: installing ${packages[*]} failed" >&2; exit 1; }
        sleep 10
      done
    fi
    openssl version >&2
    ;;
  stop)
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
