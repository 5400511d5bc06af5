#!/bin/sh
# bench_zdb.sh — the sim's 0-db server against redis-server, on this machine, in the
# same run: redis-benchmark's PING_INLINE, PING_MBULK, SET and GET with 50 clients,
# then SET and GET of 1 MiB values, then the small tests pipelined 16 deep (where the
# servers, not the benchmark client, are the bottleneck). Prints requests per second of
# both servers and the ratio zdb/redis per test (the issue aims at 0.8 or more for small
# requests); it never fails on speed.
#
# redis-benchmark SETs the same value under the same key again and again: 0-db answers
# nil from the second time on (it compares with the stored bytes and writes nothing),
# redis overwrites in memory; both still receive every payload.
#
# usage: bench_zdb.sh GRIDSTOR-SIM [--quick]
# Both servers listen on 127.0.0.1 on ports chosen at run time and are stopped by PID.
# Exits 77 (skipped, with the reason) when redis-server or redis-benchmark is missing.
set -eu

sim=${1:?usage: bench_zdb.sh GRIDSTOR-SIM [--quick]}
small_n=100000
large_n=1000
if [ "${2:-}" = "--quick" ]; then
    small_n=5000
    large_n=50
fi

for tool in redis-server redis-benchmark redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (scripts/install-deps.sh installs redis-server and redis-tools)"
        exit 77
    fi
done

work=$(mktemp -d /tmp/gs-bench-zdb-XXXXXX)
zdb_pid=""
redis_pid=""

stop_servers() {
    for pid in $zdb_pid $redis_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $zdb_pid $redis_pid; do
        wait "$pid" 2>/dev/null || true
    done
    zdb_pid=""
    redis_pid=""
}

cleanup() {
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "bench_zdb: $*" >&2
    for log in "$work"/*.log; do
        [ -f "$log" ] && sed 's/^/  /' "$log" >&2
    done
    exit 1
}

# -- the 0-db server: port 0, its address read from the JSON line it prints
"$sim" zdb --listen 127.0.0.1 --port 0 --data "$work/zdb-data" --index "$work/zdb-index" \
    >"$work/zdb.out" 2>"$work/zdb.log" &
zdb_pid=$!
zdb_port=""
for _ in $(seq 100); do
    zdb_port=$(sed -n 's/^{"zdb":"127\.0\.0\.1:\([0-9]*\)"}$/\1/p' "$work/zdb.out")
    [ -n "$zdb_port" ] && break
    kill -0 "$zdb_pid" 2>/dev/null || die "gridstor-sim zdb did not start"
    sleep 0.1
done
[ -n "$zdb_port" ] || die "gridstor-sim zdb printed no address"

# -- redis-server: no persistence, on a free port picked at random (retried if taken)
redis_port=""
for _ in $(seq 20); do
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work" \
        --logfile "$work/redis.log" &
    redis_pid=$!
    for _ in $(seq 50); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            redis_port=$port
            break
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$redis_port" ] && break
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
done
[ -n "$redis_port" ] || die "redis-server did not start"

# bench PORT ARGS...: redis-benchmark's CSV lines ("TEST","rps",...) as "TEST rps"
bench() {
    port=$1
    shift
    redis-benchmark -h 127.0.0.1 -p "$port" -c 50 --csv "$@" 2>/dev/null |
        sed -n 's/^"\([A-Z_]*\)","\([0-9.]*\)".*/\1 \2/p'
}

run_group() {
    label=$1
    shift
    bench "$zdb_port" "$@" >"$work/zdb.$label"
    bench "$redis_port" "$@" >"$work/redis.$label"
    [ -s "$work/zdb.$label" ] || die "redis-benchmark gave no result against zdb ($label)"
    [ -s "$work/redis.$label" ] || die "redis-benchmark gave no result against redis ($label)"
    while read -r test zdb_rps; do
        redis_rps=$(awk -v t="$test" '$1 == t { print $2 }' "$work/redis.$label")
        awk -v t="$test$label" -v z="$zdb_rps" -v r="$redis_rps" 'BEGIN {
            printf "%-22s %14.0f %14.0f %10.2f\n", t, z, r, (r > 0 ? z / r : 0) }'
    done <"$work/zdb.$label"
}

echo "gridstor-sim zdb on 127.0.0.1:$zdb_port, redis-server on 127.0.0.1:$redis_port"
echo "50 clients; $small_n requests (small), $large_n requests (1 MiB values)"
printf "%-22s %14s %14s %10s\n" "test" "zdb req/s" "redis req/s" "zdb/redis"
run_group "" -n "$small_n" -t ping_inline,ping_mbulk,set,get
run_group "_1MiB" -n "$large_n" -d 1048576 -t set,get
run_group "_P16" -n "$((small_n * 3))" -P 16 -t ping_mbulk,set,get

# -- the servers stop by PID; the 0-db server must shut down cleanly
kill -TERM "$zdb_pid"
status=0
wait "$zdb_pid" || status=$?
zdb_pid=""
[ "$status" -eq 0 ] || die "gridstor-sim zdb exited with status $status on SIGTERM"
stop_servers
