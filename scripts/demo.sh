#!/bin/sh
# The gridstor demo: installs what it needs, builds, plans the bundled example
# spec against the bundled example grid, and shows the first QR code.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build" >/dev/null
ex="$top/templates/examples"
exec "$top/build/orchestrator/gridstor" plan "$ex/backup-eu.yaml" \
    --nodes "$ex/grid/nodes.json" --farms "$ex/grid/farms.json" --prices "$ex/grid/prices.json" \
    --out "$top/build/backup-eu-plan" "$@"
