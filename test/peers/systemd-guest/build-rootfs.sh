#!/usr/bin/env bash
# Prints the path of a template rootfs, building it when needed: Debian (bookworm) minbase with
# systemd as init, dbus and cloud-init, set up for cloud-init's NoCloud seed. Guests boot copies of
# it (run.sh), never the template itself.
#
# The template is rebuilt only when the recipe changes: KEY hashes configure-guest.sh, the suite
# and the package list.
#   1. $SGP_BASE/templates/KEY/rootfs is complete           -> print it (instant)
#   2. $SGP_CACHE_DIR/rootfs-SUITE-KEY.tar.zst exists        -> unpack it (seconds)
#   3. otherwise debootstrap (the .debs are cached), configure-guest.sh, write the tarball, unpack
#
# Environment:
#   SGP_SUITE            Debian suite (default bookworm)
#   SGP_EXTRA_PACKAGES   more packages for the guest, space separated (a different KEY)
#   SGP_MIRROR           Debian mirror (default: the one the host's apt uses for the suite)
#   SGP_REBUILD=1        ignore the unpacked template and the tarball
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

suite=${SGP_SUITE:-bookworm}
# python3-cffi-backend: debootstrap does not resolve virtual packages, and without it
# python3-cryptography (a cloud-init dependency) stays unconfigured.
read -r -a extra <<<"${SGP_EXTRA_PACKAGES:-}"
packages=$(printf '%s\n' systemd systemd-sysv dbus cloud-init python3-cffi-backend "${extra[@]}" |
    sort -u | paste -sd, -)
for tool in debootstrap zstd tar flock; do
    command -v "$tool" >/dev/null || fatal "$tool is missing: run install.sh"
done

key=$({ cat "$SGP_DIR/configure-guest.sh"; echo "$suite $packages"; } | sha256sum | cut -c1-16)
template=$SGP_BASE/templates/$key
tarball=$SGP_CACHE_DIR/rootfs-$suite-$key.tar.zst
mkdir -p "$SGP_BASE/templates" "$SGP_CACHE_DIR/debs"

# One builder at a time, across checkouts: they share the cache and the templates.
exec 8>"$SGP_CACHE_DIR/build.lock"
flock 8

if [ "${SGP_REBUILD:-0}" != 1 ] && [ -f "$template/complete" ]; then
    say "template $key is built"
    echo "$template/rootfs"
    exit 0
fi

work=$template.part
unmount_under() {
    # debootstrap mounts /proc and /sys inside the tree: unmount them before deleting anything
    awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
discard_work() { unmount_under "$work"; rm -rf --one-file-system "$work"; }
trap discard_work EXIT
discard_work

publish() { # the finished tree in $work/rootfs becomes the template
    rm -rf --one-file-system "$template"
    mv "$work" "$template"
    echo "$suite $packages" >"$template/recipe"
    touch "$template/complete"
}

t0=$(now)
if [ "${SGP_REBUILD:-0}" != 1 ] && [ -f "$tarball" ]; then
    mkdir -p "$work/rootfs"
    zstd -dcq "$tarball" | tar --numeric-owner --xattrs --xattrs-include='*' -xpf - -C "$work/rootfs"
    publish
    say "unpacked $tarball in $(seconds "$t0") s"
    echo "$template/rootfs"
    exit 0
fi

# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
mirror=${SGP_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null |
    awk -v s="$suite" '$2 == s { print $1; exit }')}
[ -n "$mirror" ] || fatal "no apt source for '$suite' on this host: set SGP_MIRROR"

say "debootstrap $suite from $mirror with $packages"
mkdir -p "$work"
if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$SGP_CACHE_DIR/debs" \
    "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    cp "$work/debootstrap.log" "$SGP_CACHE_DIR/debootstrap-failed.log" || true
    fatal "debootstrap failed (log: $SGP_CACHE_DIR/debootstrap-failed.log)"
fi
t1=$(now)
say "debootstrap took $(seconds "$t0" "$t1") s"

r=$work/rootfs
unmount_under "$r"
bash "$SGP_DIR/configure-guest.sh" "$r"
unconfigured=$(chroot "$r" dpkg --audit 2>&1 || true)
[ -z "$unconfigured" ] || fatal "packages left unconfigured in the guest: $unconfigured"
cloud_init=$(chroot "$r" cloud-init --version 2>&1) || fatal "cloud-init does not run in the guest: $cloud_init"
# shellcheck disable=SC2016 # dpkg-query's own ${FIELD} placeholders
systemd_version=$(chroot "$r" dpkg-query -W -f='${Version}' systemd)
count=$(chroot "$r" dpkg-query -W -f='.\n' | wc -l)
echo "$key $suite $packages" >"$r/etc/graceful-vm-guest-peer"

tar --numeric-owner --xattrs --xattrs-include='*' -cf - -C "$r" . | zstd -q -T0 -3 -o "$tarball.$$"
mv "$tarball.$$" "$tarball"
# Older tarballs of this suite belong to older recipes.
find "$SGP_CACHE_DIR" -maxdepth 1 -name "rootfs-$suite-*.tar.zst" ! -name "${tarball##*/}" -delete
say "guest: $count packages, systemd $systemd_version, $cloud_init, $(du -sm "$r" | cut -f1) MiB;" \
    "tarball $(du -m "$tarball" | cut -f1) MiB"
publish
say "built template $key in $(seconds "$t0") s"
echo "$template/rootfs"
