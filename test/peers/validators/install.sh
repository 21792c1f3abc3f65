#!/usr/bin/env bash
# Installs the offline validators from Debian 12 packages, as root; idempotent (no network when
# everything is there):
#   cloud-init 22.4   `cloud-init schema`
#   systemd 252       `systemd-analyze verify` (works without systemd as PID 1)
#   ShellCheck 0.9    `shellcheck`
#   python3-yaml      PyYAML, cloud-init's YAML parser, for materialize.py
# cloud-init installed on a host only for its schema must never configure that host at boot:
# /etc/cloud/cloud-init.disabled is created unless it exists (CLOUD_INIT_KEEP_ENABLED=1 skips it).
set -euo pipefail
say() { echo "validators install: $*" >&2; }

wanted=(cloud-init shellcheck systemd python3-yaml)
missing=()
for p in "${wanted[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { say "needs root to install ${missing[*]}"; exit 1; }
    # Did cloud-init come with this install? Then it must not run at this host's next boot.
    new_cloud_init=0
    [[ " ${missing[*]} " != *" cloud-init "* ]] || new_cloud_init=1
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
    if [ "$new_cloud_init" = 1 ] && [ "${CLOUD_INIT_KEEP_ENABLED:-0}" != 1 ]; then
        touch /etc/cloud/cloud-init.disabled
        say "created /etc/cloud/cloud-init.disabled: this host's boot stays untouched by cloud-init"
    fi
fi
say "ready: $(cloud-init --version 2>&1), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), $(systemd-analyze --version | head -n 1)"
