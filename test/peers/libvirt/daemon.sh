#!/usr/bin/env bash
# A private libvirtd (QEMU driver) for the tests, as root, without systemd, touching nothing of a
# system libvirt.
#
#   daemon.sh start    start it (or reuse the one already answering for $LVPEER_STATE); prints the URI
#   daemon.sh stop     destroy its domains, stop it, end any QEMU it left, delete $LVPEER_STATE
#
# How: libvirtd runs in its own mount namespace where $LVPEER_STATE/etc is bind-mounted over
# /etc/libvirt (our libvirtd.conf and qemu.conf) and $LVPEER_STATE/{run,lib,log,cache} over
# /run/libvirt, /var/lib/libvirt, /var/log/libvirt, and a directory of $LVPEER_CACHE over
# /var/cache/libvirt (QEMU capability probing costs ~7 s; its result survives `stop`, one cache
# per state directory so two daemons never write the same files). The system's libvirt
# configuration is never read or written, and peers with different state directories run side by
# side. On the host only the empty mount-point directories are created when missing; they are
# never removed, because removing a directory that is a mount point in another namespace (another
# peer's daemon) would detach it there.
#
# Debian's libvirt resolves the user and group libvirt-qemu at start-up even when qemu.conf says
# root; only libvirt-daemon-system creates them. When they are missing, copies of /etc/passwd and
# /etc/group that add them are bind-mounted inside the namespace only.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
need_root

state=$LVPEER_STATE
sock=$state/run/libvirt-sock
uri="qemu:///system?socket=$sock"
pidfile=$state/libvirtd.pid
marker=$state/.graceful-vm-libvirt-peer
daemon_cache=$LVPEER_CACHE/daemon-$(echo "$state" | sha256sum | cut -c1-12)

answers() { timeout 10 virsh -q -c "$uri" version > /dev/null 2>&1; }
daemon_pid() { cat "$pidfile" 2>/dev/null || true; }

start() {
    for bin in libvirtd virsh qemu-system-x86_64 unshare flock; do
        command -v "$bin" > /dev/null || die "$bin is missing: run install.sh"
    done
    mkdir -p "$(dirname "$state")"
    # One start at a time per state directory (scripts/test.sh of several worktrees, local-demo).
    exec 8>"$state.lock"
    flock 8

    if is_proc "$(daemon_pid)" libvirtd; then
        local _
        for _ in $(seq 1 50); do
            answers && break
            sleep 0.2
        done
        if answers; then
            log "libvirtd already running (pid $(daemon_pid), $state)"
            echo "$uri"
            return
        fi
        die "libvirtd $(daemon_pid) does not answer on $sock; run daemon.sh stop first"
    fi

    mkdir -p "$state"/{etc/qemu,run,lib,log,guests} "$daemon_cache"
    touch "$marker"
    rm -f "$pidfile"
    # Root-only sockets without authentication: there is no polkit, and only root can reach them.
    cat > "$state/etc/libvirtd.conf" << 'EOF'
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    # QEMU as root without a security driver, cgroups or a per-domain /dev namespace (sandboxes and
    # containers often allow none of them); its stdout/stderr to a file instead of virtlogd.
    cat > "$state/etc/qemu.conf" << 'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
    local d
    for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        [ -d "$d" ] || mkdir -p "$d"
    done
    local passwd_copy="" group_copy=""
    if ! getent passwd libvirt-qemu > /dev/null; then
        passwd_copy=$state/passwd
        { cat /etc/passwd && echo "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin"; } > "$passwd_copy"
    fi
    if ! getent group libvirt-qemu > /dev/null; then
        group_copy=$state/group
        { cat /etc/group && echo "libvirt-qemu:x:64055:"; } > "$group_copy"
    fi

    # libvirtd -d forks and the parent exits; the namespace lives as long as the daemon does. The
    # daemon must not inherit fd 8 (the start lock), or it would hold the lock as long as it runs.
    # shellcheck disable=SC2016 # the variables are expanded by the inner bash
    if ! STATE="$state" DAEMON_CACHE="$daemon_cache" PASSWD_COPY="$passwd_copy" GROUP_COPY="$group_copy" \
        unshare --mount --propagation private bash -euc '
            mount --bind "$STATE/etc" /etc/libvirt
            mount --bind "$STATE/run" /run/libvirt
            mount --bind "$STATE/lib" /var/lib/libvirt
            mount --bind "$STATE/log" /var/log/libvirt
            mount --bind "$DAEMON_CACHE" /var/cache/libvirt
            [ -z "$PASSWD_COPY" ] || mount --bind "$PASSWD_COPY" /etc/passwd
            [ -z "$GROUP_COPY" ] || mount --bind "$GROUP_COPY" /etc/group
            exec libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$STATE/libvirtd.pid" 8>&-
        ' < /dev/null >> "$state/log/libvirtd.stdout" 2>&1; then
        # e.g. no CAP_SYS_ADMIN (an unprivileged container), or a chroot whose root is not a mount point
        tail -n 5 "$state/log/libvirtd.stdout" >&2
        die "could not start libvirtd in a private mount namespace"
    fi
    local _
    for _ in $(seq 1 150); do
        answers && break
        sleep 0.2
    done
    if ! answers; then
        tail -n 20 "$state/log/libvirtd.log" >&2 2> /dev/null || true
        die "libvirtd did not answer on $sock within 30 s; see $state/log/libvirtd.log"
    fi
    is_proc "$(daemon_pid)" libvirtd || die "libvirtd answered but $pidfile names no libvirtd"
    log "libvirtd pid $(daemon_pid) started, state in $state"
    echo "$uri"
}

stop() {
    [ -d "$state" ] || {
        log "no $state: nothing to stop"
        return
    }
    [ -e "$marker" ] || die "$state is not a libvirt peer state directory; not touching it"
    exec 8>"$state.lock"
    flock 8
    local pid domain
    pid=$(daemon_pid)
    if is_proc "$pid" libvirtd; then
        for domain in $(timeout 20 virsh -q -c "$uri" list --name 2> /dev/null); do
            timeout 30 virsh -q -c "$uri" destroy --domain "$domain" > /dev/null 2>&1 && log "destroyed $domain"
        done
        end_proc "$pid" libvirtd 100
        log "libvirtd $pid stopped"
    fi
    # libvirtd leaves running guests alone when it exits: end those it left, by their pid files.
    local pf qpid
    for pf in "$state"/run/qemu/*.pid; do
        [ -f "$pf" ] || continue
        qpid=$(cat "$pf" 2> /dev/null || true)
        if is_proc "$qpid" qemu-system; then
            end_proc "$qpid" qemu-system 50
            log "ended leftover QEMU $qpid ($(basename "$pf" .pid))"
        fi
    done
    rm -rf "$state"
    log "removed $state"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
