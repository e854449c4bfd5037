#!/usr/bin/env bash
# Cold/warm start and endpoint latencies, ours against ComfyUI-Lora-Manager, through the shared harness in
# ../shared/bench (or $BENCH). Without it this prints why and exits 0, so a clean clone is not blocked.
#   ANCHOR_SRC=/path/to/ComfyUI-Lora-Manager ONLY=n10k_sidecars ROUNDS=2 benchmarks/side_by_side.sh
# With SIZE=N (e.g. 10000) it instead generates one library with sidecars and measures only ours.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$here/../shared/bench}
if [ ! -f "$BENCH/bench_api.py" ]; then
  echo "side_by_side: skipped, no shared harness at $BENCH (set BENCH=... to point at one)"; exit 0
fi
if [ -n "${SIZE:-}" ]; then
  work=${WORK:-${TMPDIR:-/tmp}/lmbench}; lib=$work/lib_${SIZE}_sc; st=$work/state_ours_$SIZE
  [ -f "$lib/manifest.json" ] || python3 "$BENCH/gen_library.py" --out "$lib" --loras "$SIZE" --with-sidecars --previews png --clean
  uptime
  exec python3 "$BENCH/bench_api.py" run --name ours --label "n${SIZE}_sidecars" --library "$lib" --cwd "$here" \
    --server-cmd "$here/.venv/bin/python standalone.py --host 127.0.0.1 --port {port} --data-dir $st --loras $lib/loras --checkpoints $lib/checkpoints --embeddings $lib/embeddings" \
    --cold-reset-cmd "rm -rf $st" --requests "${REQUESTS:-20}" --latency-on warm --out "$work/ours_${SIZE}.json"
fi
: "${ANCHOR_SRC:?set ANCHOR_SRC to a checkout of willmiao/ComfyUI-Lora-Manager (or SIZE=N for ours only)}"
OURS=$here exec bash "$BENCH/run_side_by_side.sh"
