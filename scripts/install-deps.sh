#!/usr/bin/env bash
# Installs every Debian package podlens needs to build and test. Idempotent: packages already
# present are skipped, so a second run is a no-op apart from the apt-cache check.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  clang llvm lld libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev
  libgtest-dev libgmock-dev googletest
  # tests and the local node
  iproute2 iptables ethtool procps psmisc util-linux
  containernetworking-plugins nginx-light curl wrk apache2-utils python3 openssl
  prometheus
  # bench/sidecar_bench.sh: the sidecar proxy and the plots
  haproxy gnuplot-nox
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Tests start their own nginx and Prometheus: packages must not start system services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
