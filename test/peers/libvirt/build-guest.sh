#!/usr/bin/env bash
# Builds the tiny test guest: Debian's stock kernel plus a busybox initramfs (~4 MB) whose init
# scripts are the files in guest/. One image serves every behaviour; domain-xml.sh picks it on the
# kernel command line (lvtest.mode=graceful|hung, lvtest.prestop_delay=N|forever, lvtest.agent=0|1).
#
#   build-guest.sh     prints the guest directory (vmlinuz, initramfs.cpio.gz) on stdout
#
# Cached in $LVPEER_CACHE/guest-<recipe>/, where <recipe> hashes this script, guest/*, the kernel
# package and the busybox and qemu-guest-agent versions: a rebuild happens only when one of them
# changes. The kernel and qemu-guest-agent .debs are fetched with `apt-get download` (~71 MB the
# first time) and unpacked into the cache, never installed on the host.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

# The exact kernel package linux-image-amd64 points to (e.g. linux-image-6.1.0-56-amd64) and the
# qemu-guest-agent version. apt-cache takes a second or more on a busy machine: the answer is kept
# until the apt lists or the dpkg status change.
apt_key="$(stat -c %Y /var/lib/apt/lists /var/lib/dpkg/status 2>/dev/null | tr '\n' ' ')"
resolved=$LVPEER_CACHE/resolved
if [ -s "$resolved" ] && [ "$(head -n 1 "$resolved")" = "$apt_key" ]; then
    { read -r _ && read -r kpkg kversion ga_version; } < "$resolved"
else
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 (run install.sh: it refreshes the apt lists)"
    kversion=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
    ga_version=$(apt-cache policy qemu-guest-agent | awk '/Candidate:/ { print $2 }')
    { [ -n "$ga_version" ] && [ "$ga_version" != "(none)" ]; } || die "no qemu-guest-agent candidate in the apt lists"
    mkdir -p "$LVPEER_CACHE"
    printf '%s\n%s %s %s\n' "$apt_key" "$kpkg" "$kversion" "$ga_version" > "$resolved"
fi
kver=${kpkg#linux-image-}

recipe=$(
    {
        cat "$0" "$peer_dir"/guest/*
        echo "$kpkg $ga_version $(dpkg-query -W -f='${Version}' busybox-static)"
    } | sha256sum | cut -c1-16
)
out=$LVPEER_CACHE/guest-$recipe
if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ]; then
    log "guest image up to date ($out)"
    echo "$out"
    exit 0
fi

mkdir -p "$LVPEER_CACHE"
exec 9>"$LVPEER_CACHE/build.lock"
flock 9 # a concurrent start builds the same recipe: wait for it, then use its result
if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ]; then
    echo "$out"
    exit 0
fi
log "building guest image $recipe (kernel $kver, qemu-guest-agent $ga_version)"

# Fetches a package's .deb into a private download directory; prints its path.
download() {
    local dir=$LVPEER_CACHE/downloads
    mkdir -p "$dir"
    chmod 0777 "$dir" # apt's _apt sandbox user writes the file
    (cd "$dir" && rm -f "$1"_*.deb && apt-get download -q "$1=$2" >&2) || die "apt-get download $1=$2 failed"
    ls "$dir/$1"_*.deb
}

# Only the kernel image and the modules the guest loads (the whole package unpacks to 400 MB).
modules=(drivers/acpi/button drivers/input/evdev drivers/virtio/virtio_ring drivers/virtio/virtio
    drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci
    drivers/char/virtio_console)
kdir=$LVPEER_CACHE/kernel-$kver
if [ ! -s "$kdir/boot/vmlinuz-$kver" ]; then
    deb=$(download "$kpkg" "$kversion")
    members=("./boot/vmlinuz-$kver")
    for m in "${modules[@]}"; do members+=("./lib/modules/$kver/kernel/$m.ko"); done
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir.tmp" "${members[@]}"
    rm -f "$deb"
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
fi

gadir=$LVPEER_CACHE/qemu-guest-agent-$ga_version
if [ ! -x "$gadir/usr/sbin/qemu-ga" ]; then
    deb=$(download qemu-guest-agent "$ga_version")
    rm -rf "$gadir.tmp" && mkdir -p "$gadir.tmp"
    dpkg-deb -x "$deb" "$gadir.tmp"
    rm -f "$deb"
    rm -rf "$gadir" && mv "$gadir.tmp" "$gadir"
fi

root=$(mktemp -d "$LVPEER_CACHE/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/lvtest,etc/acpi/PWRF,lib/modules,proc,sys,dev,run,tmp,var/log,var/lib/qemu-ga}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
ln -s /bin/busybox "$root/init" # the kernel runs /init: busybox init reads /etc/inittab
for m in "${modules[@]}"; do cp "$kdir/lib/modules/$kver/kernel/$m.ko" "$root/lib/modules/"; done

# qemu-ga is linked dynamically: take its libraries from the host, which has them all as
# dependencies of qemu-system-x86 (same Debian release, same versions).
cp "$gadir/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
for lib in $(ldd "$gadir/usr/sbin/qemu-ga" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

install -m 0644 "$peer_dir/guest/inittab" "$root/etc/inittab"
install -m 0644 "$peer_dir/guest/settings.sh" "$root/etc/lvtest/settings.sh"
install -m 0755 "$peer_dir/guest/boot" "$root/etc/lvtest/boot"
install -m 0755 "$peer_dir/guest/prestop" "$root/etc/lvtest/prestop"
install -m 0755 "$peer_dir/guest/power-button" "$root/etc/acpi/PWRF/00000080"
rm -f "$root/sbin/shutdown" # busybox has no shutdown applet, but be sure ours is the one found
install -m 0755 "$peer_dir/guest/shutdown" "$root/sbin/shutdown"

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$kdir/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out.tmp/initramfs.cpio.gz"
echo "recipe=$recipe kernel=$kver qemu-guest-agent=$ga_version" > "$out.tmp/guest.info"
rm -rf "$out" && mv "$out.tmp" "$out"
log "guest image built: $(du -sh "$out" | cut -f1) in $out"
echo "$out"
