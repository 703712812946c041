#!/usr/bin/env bash
# Installs what the browser demo and its test (tests/deploy/test_web.py) need: Debian's chromium
# (and Node.js/npm where absent) through apt, then onnxruntime-web at the version
# package-lock.json pins, into deploy/web/node_modules. Quiet unless something fails.
# CI runs it as root; elsewhere it uses sudo for apt when it has to install a package.
set -euo pipefail
cd "$(dirname "$0")"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
fail() { echo "deploy/web/install.sh: $1 failed:" >&2; tail -n 40 "$log" >&2; exit 1; }

packages=()
command -v chromium >/dev/null || packages+=(chromium)
command -v npm >/dev/null || packages+=(nodejs npm)
if ((${#packages[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  start=$SECONDS
  "${sudo[@]}" apt-get update -qq >"$log" 2>&1 || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
    "${packages[@]}" >"$log" 2>&1 || fail "apt-get install ${packages[*]}"
  echo "deploy/web: installed ${packages[*]} in $((SECONDS - start)) s"
fi

# --ignore-scripts: onnxruntime-web ships its wasm files ready; no install script is needed.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >"$log" 2>&1 || fail "npm ci"
