#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on the GPU machine into .gpu/ (git-ignored), after `npm install`:
#
#     bash bench/gpu/pack.sh [path to the shared folder, default ../shared]
#
# ../shared/gpu/prepare.sh packs node, the Vulkan loader, the runtime node_modules and the PyTorch scripts. Then:
# sharp is left out (only JPEG decoding loads it, and its 18 MB of libvips would take the pack past the 64 MiB
# that travels), and the benchmark's tfjs baseline is added, cut to the Node bundles it loads (tfjs-core and
# tfjs-backend-webgpu are dev dependencies, which prepare.sh leaves out). Finally it builds dist/ and checks that
# .gpu, dist and the tracked files fit.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
shared=$(cd "${1:-$root/../shared}" && pwd)
npm run build --silent
bash "$shared/gpu/prepare.sh"
rm -rf .gpu/node_modules/sharp .gpu/node_modules/@img
for pkg in @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu; do
  main=$(node -p "require('./node_modules/$pkg/package.json').main")
  mkdir -p ".gpu/node_modules/$pkg/$(dirname "$main")"
  cp "node_modules/$pkg/package.json" ".gpu/node_modules/$pkg/"
  cp "node_modules/$pkg/$main" ".gpu/node_modules/$pkg/$main"
done
kib() { du -sk "$@" | awk '{ s += $1 } END { print s }'; }
total=$(( $(kib .gpu dist) + $(git ls-files -z | xargs -0 du -sk 2>/dev/null | awk '{ s += $1 } END { print s }') ))
echo "packed: .gpu $(kib .gpu) KiB, dist $(kib dist) KiB, tracked files and both: $total KiB of 65536"
[ "$total" -lt 63000 ] || { echo "bench/gpu/pack.sh: $total KiB is too close to the 64 MiB that travels"; exit 1; }
echo 'run there (device tool, carry [".gpu", "dist"]): bash bench/gpu/run.sh'
