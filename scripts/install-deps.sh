#!/bin/sh
# Installs the Debian packages gridstor needs to build, test and run.
# Idempotent: when every package is already installed it does nothing,
# not even an 'apt-get update'. Needs root (or sudo) only when something
# is missing.
set -eu

PACKAGES="
build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
libuv1-dev libh2o-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
libsqlite3-dev libssl-dev libsodium-dev libqrencode-dev libpng-dev libisal-dev
libzstd-dev libcmocka-dev zbar-tools libzbar-dev redis-server redis-tools wrk
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "gridstor: installing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "gridstor: these packages are missing and I am not root:$missing" >&2
        echo "gridstor: install them with apt-get as root, then run this again" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
