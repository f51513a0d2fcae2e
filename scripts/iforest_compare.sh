#!/usr/bin/env bash
# Runs AMOSKYS' Isolation Forest and scikit-learn's (Debian python3-sklearn 1.2.1) side by side,
# in one run, over every labelled outlier set: ROC AUC (mean over seeds), scored rows/s on one
# core, single-row latency and fit time. Prints a markdown table (docs/benchmarks/iforest.md).
# Usage: scripts/iforest_compare.sh [DATA_DIR] (default ../shared/data/outlier); SEEDS=5.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data/outlier}
seeds=${SEEDS:-5}
py=/usr/bin/python3 # Debian's python, where python3-sklearn lives (not a pyenv python3 on PATH)
if ! compgen -G "$data/*.csv" >/dev/null; then
	echo "iforest_compare: no labelled sets in $data: skipped" >&2
	exit 0
fi
"$root/scripts/deps/40-sklearn.sh" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/amoskys" ./cmd/amoskys)
echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
for f in "$data"/*.csv; do
	echo "# $(basename "$f")" >&2
	# Interleaved per set so both implementations meet the same machine load.
	"$work/amoskys" bench iforest --json --seeds "$seeds" --csv "$f" >>"$work/ours.jsonl"
	OMP_NUM_THREADS=1 "$py" "$root/scripts/iforest_sklearn.py" --seeds "$seeds" "$f" >>"$work/sklearn.jsonl"
done
"$py" - "$work/ours.jsonl" "$work/sklearn.jsonl" "$seeds" <<'PY'
import json, sys
ours = {r["file"]: r for r in map(json.loads, open(sys.argv[1]))}
sk = {r["file"]: r for r in map(json.loads, open(sys.argv[2]))}
seeds = sys.argv[3]
# Liu, Ting & Zhou 2008, Table 3 (AUC), as quoted in shared/data/README.md.
liu = {"shuttle": 1.00, "mammography": 0.86, "annthyroid": 0.82, "satellite": 0.71, "pima": 0.67,
       "breastw": 0.99, "ionosphere": 0.85}
print("| set | rows × d | ROC AUC amoskys | ROC AUC sklearn | Δ | Liu et al. | AUC ok | rows/s 1 core amoskys (CPU) | rows/s 1 core sklearn (CPU) | speed-up CPU | speed-up wall | rows/s all cores amoskys | single row µs amoskys (CPU / wall) | single row µs sklearn (CPU / wall) | explain µs amoskys | fit ms amoskys (all / 1 core) | fit ms sklearn |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
worst_d, min_x, min_xw, max_lat, max_fit = 1.0, 1e18, 1e18, 0.0, 0.0
for name in sorted(ours):
    o, s = ours[name], sk[name]
    d = o["roc_auc"] - s["roc_auc"]
    x = o["rows_per_s_1core_cpu"] / s["rows_per_s_1core_cpu"]
    xw = o["rows_per_s_1core"] / s["rows_per_s_1core"]
    worst_d, min_x, min_xw = min(worst_d, d), min(min_x, x), min(min_xw, xw)
    max_lat, max_fit = max(max_lat, o["single_row_us_cpu"]), max(max_fit, o["fit_ms"])
    base = name.removesuffix(".csv")
    print(f"| {base} | {o['rows']} × {o['features']} | {o['roc_auc']:.3f} | {s['roc_auc']:.3f} | {d:+.3f} | "
          f"{liu.get(base, '—')} | {'yes' if d >= -0.01 else 'NO'} | {o['rows_per_s_1core_cpu']:,.0f} | "
          f"{s['rows_per_s_1core_cpu']:,.0f} | {x:.1f}× | {xw:.1f}× | {o['rows_per_s_all']:,.0f} | "
          f"{o['single_row_us_cpu']:.2f} / {o['single_row_us']:.2f} | {s['single_row_us_cpu']:,.0f} / {s['single_row_us']:,.0f} | "
          f"{o['single_explain_us']:.1f} | {o['fit_ms']:.1f} / {o['fit_ms_1core']:.1f} | {s['fit_ms']:.1f} |")
print()
print(f"Seeds 0..{int(seeds)-1} for each implementation. Worst AUC difference {worst_d:+.3f} (goal ≥ -0.01); "
      f"slowest single-core speed-up {min_x:.1f}× in CPU time, {min_xw:.1f}× in wall time (goal ≥ 20×, aim 50×); "
      f"worst single-row latency {max_lat:.2f} µs CPU (goal < 10 µs); slowest fit of 100 trees × 256 "
      f"{max_fit:.1f} ms (goal < 50 ms).")
PY
