#!/bin/sh
# The gridstor demo: installs what it needs, builds, and runs the sign-and-pay journey
# on the local grid. It starts gridstor-sim (explorer, chain, login directory, nodes),
# gives this install an identity (`gridstor init`), starts gridstord, deploys the
# example spec (`gridstor deploy`, which shows the QR code), lets the Threefold Connect
# app stand-in scan it, sign and pay, and follows the deployment until it is deployed:
# pools reserved, escrows paid, the 0-db namespaces provisioned on the nodes, and the
# M1 and M2 machines running gridstor-gw and answering. Everything it starts is stopped
# at the end, and its scratch folder removed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build" >/dev/null
bin="$top/build"
gridstor="$bin/orchestrator/gridstor"
sim="$bin/sim/gridstor-sim"
work=$(mktemp -d "${TMPDIR:-/tmp}/gridstor-demo-XXXXXX")
pids=""

cleanup() {
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until FILE has a first line (a server's announcement), at most 30 s.
wait_line() {
    i=0
    until [ -s "$1" ] && [ "$(wc -l <"$1")" -ge 1 ]; do
        i=$((i + 1))
        if [ "$i" -gt 300 ]; then
            echo "demo: $2 did not start; its log:" >&2
            cat "$3" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# The value of a string member of the one-line JSON in FILE.
field() {
    sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1
}

echo "== the local grid (gridstor-sim)"
# The grid's nodes run gridstor-gw for the gateway flist, each container listening on
# its own loopback address (${GRIDSTOR_SIM_IPV4} is expanded by the node, not here).
# shellcheck disable=SC2016
gw_command="$bin/gateway/gridstor-gw --env --listen "'${GRIDSTOR_SIM_IPV4}'":7481"
"$sim" --state "$work/grid" --flist "https://hub.grid.tf/gridstor/gridstor-gw.flist=$gw_command" \
    >"$work/sim.json" 2>"$work/sim.log" &
pids="$!"
wait_line "$work/sim.json" gridstor-sim "$work/sim.log"
explorer=$(field explorer "$work/sim.json")
chain=$(field chain "$work/sim.json")
login=$(field login "$work/sim.json")
echo "explorer $explorer"

cat >"$work/gridstord.yaml" <<EOF
listen: 127.0.0.1:0
data_dir: $work/gridstord
explorer: $explorer
chain: $chain
login: $login
EOF

echo "== this install's identity (gridstor init)"
"$gridstor" init --config "$work/gridstord.yaml" --name demo-install.3bot
echo "== the owner's phone (the app stand-in): alice.3bot with a funded wallet"
"$sim" app new --as alice.3bot --login "$login" --chain "$chain" --dir "$work/app" --fund 1000

echo "== gridstord"
"$bin/orchestrator/gridstord" --config "$work/gridstord.yaml" >"$work/gridstord.json" \
    2>"$work/gridstord.log" &
pids="$! $pids"
wait_line "$work/gridstord.json" gridstord "$work/gridstord.log"
url=$(field gridstord "$work/gridstord.json")
token=$(field token_file "$work/gridstord.json")
echo "gridstord $url"

echo "== gridstor deploy templates/examples/minimal.yaml"
"$gridstor" deploy "$top/templates/examples/minimal.yaml" --url "$url" --token-file "$token" \
    --timeout 120 >"$work/deploy.out" 2>&1 &
deploy=$!
i=0
until grep -q '  link: ' "$work/deploy.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$deploy" 2>/dev/null; then
        cat "$work/deploy.out" >&2
        exit 1
    fi
    sleep 0.1
done
sed -n '1,/  QR:/p' "$work/deploy.out"
link=$(sed -n 's/^  link: //p' "$work/deploy.out" | head -n 1)

echo "== the app stand-in scans the link, signs the document and pays"
"$sim" app scan --as alice.3bot --dir "$work/app" "$link"

echo "== gridstor follows the deployment"
status=0
wait "$deploy" || status=$?
sed -n '/^\[/,$p' "$work/deploy.out"
"$gridstor" status minimal --url "$url" --token-file "$token"
echo
if [ "$status" -eq 0 ]; then
    echo "Deployed on the local grid: the pools paid, 22 0-db namespaces provisioned, M1"
    echo "(read-write) and M2 (read-only) running gridstor-gw, each answering at the address"
    echo "shown above. The demo stops everything it started."
fi
exit "$status"
