#!/usr/bin/env bash
# pg_ctl.sh start|stop DIR — the PostgreSQL server the tests share (a CTest fixture).
#
# start: wipes any leftover DIR (stopping a server a crashed run left behind),
#        initialises a cluster in DIR/data (trust auth, superuser lumi_test),
#        starts it on 127.0.0.1 and a free port, no Unix socket, and writes
#        the base URL postgres://lumi_test@127.0.0.1:PORT/postgres to DIR/url.
# stop:  stops the server (fast) and removes DIR.
# crash-restart: stops the server the way a crash would (-m immediate: no
#        checkpoint, recovery from the WAL at start) and starts it again on the
#        same port (bb_pgrestart).
#
# The server refuses to run as root, so as root everything runs as the
# `postgres` user on a DIR it owns. Any failure prints the server log.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_NAME=lumi_test
TRIES=8

die() {
    echo "pg_ctl.sh: $*" >&2
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- server log ($DIR/log) ----" >&2
        tail -n 60 "$DIR/log" >&2 || true
    fi
    exit 1
}

# Runs a command as the server's owner (postgres when we are root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

pick_port() {
    local port tries=0
    while ((tries < 200)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    return 1
}

stop_server() {
    if [[ -f $DIR/data/postmaster.pid ]]; then
        as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
            true
    fi
}

wipe() {
    if [[ -d $DIR ]]; then
        stop_server
        rm -rf -- "$DIR"
    fi
}

do_init() {
    mkdir -p -- "$DIR"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$DIR"
        as_owner test -w "$DIR" ||
            die "user postgres cannot write $DIR (is a parent directory closed to it?)"
    fi
    as_owner "$PGBIN/initdb" -D "$DIR/data" --auth=trust -U "$PGUSER_NAME" -E UTF8 \
        --locale=C -N >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        die "initdb failed"
    }
    # Settings for a throwaway test server. fsync stays on (the default); no
    # Unix socket, so parallel runs never collide on a socket path.
    as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
logging_collector = off
log_min_messages = warning
EOF
}

# Starts the server on a free port; retries when another process grabs the port first.
do_start() {
    local port attempt=0
    while ((attempt < TRIES)); do
        attempt=$((attempt + 1))
        port=$(pick_port) || die "no free TCP port found"
        as_owner truncate -s 0 "$DIR/log" 2>/dev/null || true
        if as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1; then
            local i
            for i in $(seq 1 100); do
                if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PGUSER_NAME" \
                    -d postgres; then
                    echo "postgres://$PGUSER_NAME@127.0.0.1:$port/postgres" >"$DIR/url.tmp"
                    mv -f "$DIR/url.tmp" "$DIR/url"
                    echo "pg_ctl.sh: server ready at 127.0.0.1:$port (data in $DIR/data)"
                    return 0
                fi
                sleep 0.1
            done
            die "server started on port $port but never became ready"
        fi
        stop_server
        if ! grep -q -i "could not bind\|address already in use" "$DIR/log" 2>/dev/null; then
            die "server failed to start"
        fi
        echo "pg_ctl.sh: port $port was taken, trying another" >&2
    done
    die "server failed to start after $TRIES ports"
}

[[ $# -eq 2 ]] || {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
CMD=$1
DIR=$2
[[ -n $DIR && $DIR != / ]] || die "refusing to use DIR '$DIR'"
DIR=$(realpath -m -- "$DIR")
[[ -x $PGBIN/pg_ctl ]] || die "PostgreSQL binaries not found in $PGBIN"

case $CMD in
start)
    wipe
    do_init
    do_start
    ;;
stop)
    wipe
    ;;
crash-restart)
    as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -m immediate -w -t 60 restart \
        >/dev/null 2>&1 || die "restart failed"
    ;;
*)
    echo "usage: $0 start|stop|crash-restart DIR" >&2
    exit 2
    ;;
esac
