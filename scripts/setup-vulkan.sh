#!/usr/bin/env bash
# Makes sure Dawn (the `webgpu` npm package) can find a WebGPU adapter.
#
# Dawn talks to the GPU through Vulkan. On a machine with a real GPU driver that supports Vulkan this script
# does nothing. On a CPU-only Debian 12 machine it installs the Vulkan loader and Mesa's software rasteriser
# "lavapipe" from bookworm-backports: Dawn rejects bookworm's own Mesa 22 (it lacks
# shaderUniform*ArrayDynamicIndexing), Mesa >= 23 works. Run as root (or with sudo available).
#
# --auto (what `npm start` and `npm test` run first): silent when an adapter is found; as root, installs the
# driver after saying what it installs; otherwise prints the one command to run and fails.
set -euo pipefail
usage="usage: bash scripts/setup-vulkan.sh [--auto]   (checks for a WebGPU adapter; installs lavapipe where none is found)"
auto=false
case "${1:-}" in
  '') ;;
  --auto) auto=true ;;
  -h|--help) echo "$usage"; exit 0 ;;
  *) echo "setup-vulkan: unknown argument '$1'; $usage" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -d "$here/../node_modules/webgpu" ]; then
  echo "setup-vulkan: run 'npm install' first (the adapter check uses the webgpu package)" >&2
  exit 1
fi
probe() { node "$here/probe-adapter.mjs" >/dev/null 2>&1; }

if probe; then
  $auto || node "$here/probe-adapter.mjs"
  exit 0
fi

sudo_=""
[ "$(id -u)" = 0 ] || sudo_="sudo"
if $auto; then
  if [ -n "$sudo_" ]; then
    echo "no WebGPU adapter found (Dawn needs a Vulkan driver). Install one once with: sudo bash scripts/setup-vulkan.sh" >&2
    exit 1
  fi
  echo "no WebGPU adapter found: installing the Vulkan loader (libvulkan1) and Mesa's software driver lavapipe (mesa-vulkan-drivers) with apt-get (scripts/setup-vulkan.sh)" >&2
fi

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  # Reuse the mirror this machine's apt sources already name, so no host is hard-coded here.
  mirror=$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$mirror" ]; then
    echo "setup-vulkan: could not find a Debian mirror in /etc/apt/sources.list{,.d}" >&2
    exit 1
  fi
  list=/etc/apt/sources.list.d/bookworm-backports.list
  if ! grep -qs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/* ; then
    echo "deb $mirror bookworm-backports main" | $sudo_ tee "$list" >/dev/null
  fi
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq libvulkan1 >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
elif [ "${ID:-}" = ubuntu ] || [ "${ID_LIKE:-}" = debian ]; then
  # Ubuntu 24.04 and newer Debian releases ship Mesa >= 23.
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
else
  cat >&2 <<'MSG'
setup-vulkan: no WebGPU adapter found, and this is not Debian/Ubuntu, so nothing was installed.
Install any GPU driver with Vulkan support (NVIDIA, AMD, Intel), or Mesa >= 23 with its "lavapipe"
software Vulkan driver (package names: mesa-vulkan-drivers / vulkan-swrast / mesa-vulkan-swrast),
plus the Vulkan loader (libvulkan1 / vulkan-loader). Then run this script again to check.
MSG
  exit 1
fi

if probe; then
  node "$here/probe-adapter.mjs"
else
  echo "setup-vulkan: installed the Vulkan driver, but Dawn still finds no adapter:" >&2
  node "$here/probe-adapter.mjs" >&2 || true
  exit 1
fi
