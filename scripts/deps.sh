#!/usr/bin/env bash
# Installs the Debian packages that the build, `make run` and `make test` need, only
# those missing. Idempotent and silent when everything is present.
# Usage: scripts/deps.sh [--bench]   (--bench adds the load-test tools)
set -euo pipefail

pkgs=(
    build-essential pkg-config g++            # compiler, C++ for the libphonenumber shim
    libpq-dev postgresql                      # the store: client library and a server for tests/run
    libicu-dev libpcre2-dev                   # Unicode normalization/transliteration, patterns
    libjansson-dev libmicrohttpd-dev          # JSON, HTTP server
    libcurl4-openssl-dev libssl-dev           # outbound HTTP (webhooks), hashes/HMAC
    libphonenumber-dev                        # E.164 phone parsing
    curl jq                                   # e2e tests talk HTTP with curl and read JSON with jq
    wrk openssl                               # reliability load test; self-signed certificates (TLS test)
    help2man                                  # the man page, generated from `mdm --help`
    systemd                                   # systemd-analyze verify checks the shipped units
    prometheus                                # promtool checks /metrics and the alert rules
)
# browser tests (tests/browser): Debian's chromium, and node/npm unless a node is installed
# already (a nodesource nodejs bundles npm and conflicts with Debian's npm package)
pkgs+=(chromium)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
if [ "${1:-}" = "--bench" ]; then
    pkgs+=(hyperfine)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
