#!/usr/bin/env bash
# Installs the Debian 12 packages Strata needs, only those missing. Idempotent; quiet
# when everything is there. Needs root (or sudo) only when something is missing.
# iproute2 (ip, tc): scripts/emucluster.sh, whose tests are skipped without it.
set -euo pipefail
pkgs=(build-essential cmake pkg-config gawk openmpi-bin libopenmpi-dev libucx-dev libhwloc-dev libcmocka-dev gnuplot-nox iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
