#!/usr/bin/env bash
# A loopback sshd in front of the peer's private libvirtd, for `qemu+ssh://` (issue 18).
#
#   ssh.sh start   start (or reuse) sshd on 127.0.0.1:$LVPEER_SSH_PORT with keys and known_hosts
#                  files of its own; prints `export VAR=value` lines (below) on stdout
#   ssh.sh stop    stop sshd and the "hang" listener, delete $LVPEER_SSH_STATE
#
# The libvirt peer must be running (daemon.sh start): the remote side of every connection is
# `nc -U $LVPEER_STATE/run/libvirt-sock`, run by this sshd as root.
#
# libvirt's `ssh` transport runs the system `ssh` and has no known_hosts parameter (`known_hosts`
# and `known_hosts_verify` belong to the libssh/libssh2 transports). So that nothing of root's
# ~/.ssh is read or written, each URI names a client wrapper with `command=`: `ssh -F <config>`,
# whose config pins UserKnownHostsFile to one of our files, StrictHostKeyChecking=yes and no
# global known_hosts. Options libvirt adds on the command line (BatchMode=yes for no_tty=1,
# StrictHostKeyChecking=no for no_verify=1) still win over the config file, as they would over a
# user's ~/.ssh/config.
#
# Exported (all URIs carry socket=, keyfile=, no_tty=1 and command= unless said otherwise):
#   LVPEER_SSH_URI                qemu+ssh://root@127.0.0.1:PORT/system?...   works
#   LVPEER_SSH_URI_UNKNOWN_HOST   known_hosts without this host     -> Host key verification failed
#   LVPEER_SSH_URI_CHANGED_HOST   known_hosts with another key      -> REMOTE HOST IDENTIFICATION HAS CHANGED
#   LVPEER_SSH_URI_AUTH_REFUSED   a key sshd does not authorize     -> Permission denied (publickey)
#   LVPEER_SSH_URI_NO_NETCAT      netcat= a command the remote lacks -> nc: not found on the remote
#   LVPEER_SSH_URI_REFUSED        127.0.0.1 port 1, nothing listens -> Connection refused
#   LVPEER_SSH_URI_HANG           a port that accepts and never answers (no SSH banner)
#   LVPEER_SSH_URI_LIBSSH         qemu+libssh:// with known_hosts= (no wrapper; libvirt's own client)
# and the pieces, to build other cases: LVPEER_SSH_HOST, LVPEER_SSH_PORT, LVPEER_SSH_USER,
# LVPEER_SSH_SOCKET, LVPEER_SSH_KEY, LVPEER_SSH_KEY_UNAUTHORIZED, LVPEER_SSH_KNOWN_HOSTS,
# LVPEER_SSH_KNOWN_HOSTS_UNKNOWN, LVPEER_SSH_KNOWN_HOSTS_CHANGED, LVPEER_SSH_CONFIG (the good
# client config), LVPEER_SSH_COMMAND (the good wrapper), LVPEER_SSH_STATE, LVPEER_SSH_LOG (sshd's log).
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
need_root

dir=${LVPEER_SSH_STATE:-$(dirname "$LVPEER_STATE")/libvirt-ssh}
sock=$LVPEER_STATE/run/libvirt-sock
pidfile=$dir/sshd.pid
hang_pidfile=$dir/hang.pid
marker=$dir/.graceful-vm-libvirt-ssh-peer

port_in_use() { ss -Hltn "sport = :$1" | grep -q .; }
free_port() { # the first free port from $1 upwards
    local p=$1
    while port_in_use "$p"; do p=$((p + 1)); done
    echo "$p"
}

# The client side of one case: a known_hosts file -> a wrapper `ssh -F config` using it.
write_client() { # write_client NAME KNOWN_HOSTS
    local config=$dir/client/$1.config
    cat > "$config" << EOF
# graceful-vm libvirt peer: ssh client settings for the '$1' case
UserKnownHostsFile $2
GlobalKnownHostsFile /dev/null
StrictHostKeyChecking yes
UpdateHostKeys no
IdentitiesOnly yes
HashKnownHosts no
LogLevel ERROR
EOF
    printf '#!/bin/sh\n# ssh with the %s case'"'"'s client config, for libvirt URIs (command=)\nexec /usr/bin/ssh -F %s "$@"\n' "$1" "$config" > "$dir/client/ssh-$1"
    chmod 0755 "$dir/client/ssh-$1"
}

uri_for() { # uri_for TRANSPORT PORT QUERY
    echo "qemu+$1://root@127.0.0.1:$2/system?socket=$sock&$3"
}

start() {
    for bin in /usr/sbin/sshd /usr/bin/ssh ssh-keygen nc ss; do
        command -v "$bin" > /dev/null || die "$bin is missing: run install.sh --ssh"
    done
    [ -S "$sock" ] || die "no libvirtd socket at $sock: start the libvirt peer first"
    mkdir -p "$(dirname "$dir")"
    exec 8>"$dir.lock"
    flock 8

    if ! is_proc "$(cat "$pidfile" 2> /dev/null || true)" sshd; then
        rm -rf "$dir"
        mkdir -p "$dir/client"
        chmod 0700 "$dir"
        touch "$marker"
        local port
        port=$(free_port "${LVPEER_SSH_PORT:-22220}")
        echo "$port" > "$dir/port"
        ssh-keygen -q -t ed25519 -N '' -C "graceful-vm peer host key" -f "$dir/host_key"
        ssh-keygen -q -t ed25519 -N '' -C "graceful-vm peer other host key" -f "$dir/other_host_key"
        ssh-keygen -q -t ed25519 -N '' -C "graceful-vm peer client" -f "$dir/client_key"
        ssh-keygen -q -t ed25519 -N '' -C "graceful-vm peer unauthorized client" -f "$dir/unauthorized_key"
        cp "$dir/client_key.pub" "$dir/authorized_keys"
        echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
        echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/other_host_key.pub")" > "$dir/known_hosts_changed"
        : > "$dir/known_hosts_unknown"
        # StrictModes no: the authorized_keys path runs through /tmp, which is world-writable.
        # No PAM, no passwords: a key or nothing, so "auth refused" is deterministic.
        cat > "$dir/sshd_config" << EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
PidFile $pidfile
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AcceptEnv none
MaxStartups 50:30:100
LogLevel VERBOSE
EOF
        write_client good "$dir/known_hosts"
        write_client unknown-host "$dir/known_hosts_unknown"
        write_client changed-host "$dir/known_hosts_changed"
        mkdir -p /run/sshd # sshd's privilege-separation directory (Debian's sshd refuses to start without it)
        /usr/sbin/sshd -t -f "$dir/sshd_config" || die "sshd rejects $dir/sshd_config"
        /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" 8>&- || die "sshd did not start; see $dir/sshd.log"
        local _
        for _ in $(seq 1 50); do
            [ -s "$pidfile" ] && port_in_use "$port" && break
            sleep 0.1
        done
        is_proc "$(cat "$pidfile" 2> /dev/null || true)" sshd || die "sshd did not start; see $dir/sshd.log"
        log "sshd pid $(cat "$pidfile") on 127.0.0.1:$port, state in $dir"

    else
        log "sshd already running (pid $(cat "$pidfile"), $dir)"
    fi
    # "Hang": accepts TCP connections and never says a word, like a link that went dead. Checked
    # on every start: a reused state directory may have outlived its listener.
    if ! is_proc "$(cat "$hang_pidfile" 2> /dev/null || true)" nc; then
        local hang_port
        hang_port=$(free_port $(($(cat "$dir/port") + 1)))
        echo "$hang_port" > "$dir/hang_port"
        nohup nc -lk 127.0.0.1 "$hang_port" < /dev/null > /dev/null 2>&1 8>&- &
        echo $! > "$hang_pidfile"
        log "hang listener pid $! on 127.0.0.1:$hang_port"
    fi

    local port hang_port key query
    port=$(cat "$dir/port")
    hang_port=$(cat "$dir/hang_port")
    key=$dir/client_key
    query="keyfile=$key&no_tty=1"
    local good=$dir/client/ssh-good
    local uri
    uri=$(uri_for ssh "$port" "$query&command=$good")
    # The smoke check: one libvirt call through sshd and nc to the daemon.
    timeout 30 virsh -q -c "$uri" list --all > /dev/null 2> "$dir/smoke.err" || {
        cat "$dir/smoke.err" >&2
        die "virsh over $uri failed"
    }
    echo "export LVPEER_SSH_URI=$(quote "$uri")"
    echo "export LVPEER_SSH_URI_UNKNOWN_HOST=$(quote "$(uri_for ssh "$port" "$query&command=$dir/client/ssh-unknown-host")")"
    echo "export LVPEER_SSH_URI_CHANGED_HOST=$(quote "$(uri_for ssh "$port" "$query&command=$dir/client/ssh-changed-host")")"
    echo "export LVPEER_SSH_URI_AUTH_REFUSED=$(quote "$(uri_for ssh "$port" "keyfile=$dir/unauthorized_key&no_tty=1&command=$good")")"
    echo "export LVPEER_SSH_URI_NO_NETCAT=$(quote "$(uri_for ssh "$port" "$query&command=$good&netcat=/nonexistent/nc")")"
    echo "export LVPEER_SSH_URI_REFUSED=$(quote "$(uri_for ssh 1 "$query&command=$good")")"
    echo "export LVPEER_SSH_URI_HANG=$(quote "$(uri_for ssh "$hang_port" "$query&command=$good")")"
    echo "export LVPEER_SSH_URI_LIBSSH=$(quote "$(uri_for libssh "$port" "keyfile=$key&known_hosts=$dir/known_hosts&known_hosts_verify=normal&sshauth=privkey")")"
    echo "export LVPEER_SSH_HOST='127.0.0.1'"
    echo "export LVPEER_SSH_PORT=$(quote "$port")"
    echo "export LVPEER_SSH_USER='root'"
    echo "export LVPEER_SSH_SOCKET=$(quote "$sock")"
    echo "export LVPEER_SSH_KEY=$(quote "$key")"
    echo "export LVPEER_SSH_KEY_UNAUTHORIZED=$(quote "$dir/unauthorized_key")"
    echo "export LVPEER_SSH_KNOWN_HOSTS=$(quote "$dir/known_hosts")"
    echo "export LVPEER_SSH_KNOWN_HOSTS_UNKNOWN=$(quote "$dir/known_hosts_unknown")"
    echo "export LVPEER_SSH_KNOWN_HOSTS_CHANGED=$(quote "$dir/known_hosts_changed")"
    echo "export LVPEER_SSH_CONFIG=$(quote "$dir/client/good.config")"
    echo "export LVPEER_SSH_COMMAND=$(quote "$good")"
    echo "export LVPEER_SSH_STATE=$(quote "$dir")"
    echo "export LVPEER_SSH_LOG=$(quote "$dir/sshd.log")"
}

stop() {
    [ -d "$dir" ] || return 0
    [ -e "$marker" ] || die "$dir is not a libvirt-ssh peer state directory; not touching it"
    exec 8>"$dir.lock"
    flock 8
    local pid
    pid=$(cat "$pidfile" 2> /dev/null || true)
    if is_proc "$pid" sshd; then
        # Only the listener: sessions still open end when their clients go.
        end_proc "$pid" sshd 50
        log "sshd $pid stopped"
    fi
    end_proc "$(cat "$hang_pidfile" 2> /dev/null || true)" nc 10
    rm -rf "$dir"
    log "removed $dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
