#!/usr/bin/env bash
# The GPU table in one run, on the GPU machine (../shared/gpu/README.md): from the project root there, with
# .gpu (bench/gpu/pack.sh) and dist carried along,
#
#     bash bench/gpu/run.sh            # writes everything into $OUT
#
# Each part writes $OUT/<part>.json (stdout) and $OUT/<part>.log (stderr) under its own time limit, and a line in
# $OUT/parts.jsonl; a part that fails or runs out of time costs only itself. The parts run in the order the table
# needs them, so a run cut short keeps the most important. Back here: node dist/bench/gpu-report.js <the files>.
#   SMALL=1: the scaled-down shapes, for a dry run on a CPU adapter (no .gpu/env.sh, no CUDA).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${OUT:?set OUT to the folder whose files come back}
mkdir -p "$out"
# Seconds for all parts: a cap (the parts are expected to take about 4 minutes), kept low enough that a slow run
# still leaves device time for a rerun.
budget=${BUDGET:-480}
started=$(date +%s)
if [ -z "${SMALL:-}" ]; then
  # shellcheck disable=SC1091
  source .gpu/env.sh > "$out/env.log" 2>&1
  command -v node > /dev/null || { echo "bench/gpu/run.sh: no node after .gpu/env.sh (see env.log)"; exit 1; }
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1
  size=smpr; r50=800
else
  size=small; r50=128
fi

part() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - started)))
  if [ "$left" -lt 10 ]; then
    echo "{\"part\":\"$name\",\"skipped\":\"out of time\"}" >> "$out/parts.jsonl"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0 rc
  t0=$(date +%s%N)
  timeout -k 10 "$limit" "$@" > "$out/$name.json" 2> "$out/$name.log"
  rc=$?
  printf '{"part":"%s","rc":%d,"ms":%d,"limit":%d}\n' "$name" "$rc" $((($(date +%s%N) - t0) / 1000000)) "$limit" >> "$out/parts.jsonl"
  echo "$name: rc $rc"
}

part adapter 30 node dist/bench/adapter.js
part kernels 120 node dist/bench/index.js --suite kernels --size "$size" --chart "$out/kernels.png"
part step-r50 150 node dist/bench/step-profile.js --config r50 --size "$r50" --batch 1 --optimizer sgd --top 20
if [ -z "${SMALL:-}" ]; then
  part torch-anchor 120 python3 .gpu/torch_anchor.py
  part torch-r50 90 python3 .gpu/smpr_r50_torch.py --bench --size 800 --batch 1
fi
part step-tiny 45 node dist/bench/step-profile.js --config tiny --batch 8 --optimizer adamw --replay no
part gemm-tiles 120 node dist/bench/gemm-tiles.js --size "$size"
echo "done in $(($(date +%s) - started)) s"
