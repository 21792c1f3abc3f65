#!/usr/bin/env bash
# Builds the vSphere test peer (graceful-vm-vcsim) from this folder's Go sources against Debian's
# govmomi source package, in GOPATH mode: no Go modules, no module proxy, nothing downloaded but
# Debian packages. Prints the binary's path on stdout; everything else goes to stderr.
#
#   build.sh            install the Debian packages if missing, build unless cached
#   FORCE=1 build.sh    rebuild even when the cached binary matches
#
# The binary is cached under $GRACEFUL_VM_PEER_CACHE (default ~/.cache/graceful-vm/peers) in a
# folder named after a hash of the sources, the govmomi package version and the Go version, so an
# edit of any of them builds anew and an unchanged tree starts at once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
govmomi=/usr/share/gocode/src/github.com/vmware/govmomi
packages=(golang-go golang-github-vmware-govmomi-dev golang-github-google-uuid-dev ca-certificates curl)

log() { echo "vsphere peer build: $*" >&2; }
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { log "needs root to install ${missing[*]} (apt-get)"; exit 1; }
  t0=$(date +%s.%N)
  export DEBIAN_FRONTEND=noninteractive
  # Other peers' installs or the system's own apt may hold the dpkg lock: wait for it rather
  # than fail, and refresh the package lists once if the install cannot find something.
  for attempt in $(seq 1 12); do
    if apt-get -o DPkg::Lock::Timeout=60 install -y -qq --no-install-recommends "${missing[@]}" >&2; then break; fi
    [[ $attempt == 12 ]] && { log "apt-get install ${missing[*]} failed"; exit 1; }
    if [[ $attempt == 1 ]]; then apt-get -o DPkg::Lock::Timeout=60 update -qq >&2 || true; fi
    log "apt-get install failed (attempt $attempt); retrying in 10 s"
    sleep 10
  done
  log "installed ${missing[*]} in $(seconds_since "$t0") s"
fi
[[ -d $govmomi/simulator ]] || { log "$govmomi/simulator is missing (golang-github-vmware-govmomi-dev)"; exit 1; }

export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
# go refuses to build without a cache folder, and CI runners may have no HOME.
export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/go-build}"
hash="$(
  {
    dpkg-query -W -f='${Package} ${Version}\n' golang-github-vmware-govmomi-dev golang-go
    go version
    for f in "$here"/*.go; do echo "== $(basename "$f")"; cat "$f"; done
  } | sha256sum | cut -c1-16
)"
cache="${GRACEFUL_VM_PEER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/graceful-vm/peers}/vsphere-$hash"
bin="$cache/graceful-vm-vcsim"
if [[ ${FORCE:-0} != 1 && -x $bin ]]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
# GOPATH mode resolves the imports under /usr/share/gocode, where Debian's -dev packages live.
(cd "$here" && go build -trimpath -ldflags='-s -w' -o "$tmp/graceful-vm-vcsim" .) >&2
mv -f "$tmp/graceful-vm-vcsim" "$bin" # atomic: a concurrent build of the same hash wins or loses whole
log "built $bin in $(seconds_since "$t0") s (govmomi $(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev), $(go version | cut -d' ' -f3))"
echo "$bin"
