#!/usr/bin/env bash
# Runs AMOSKYS' Isolation Forest and scikit-learn's (Debian python3-sklearn 1.2.1) side by side,
# in one run, over every labelled outlier set: ROC AUC (mean over seeds), scored rows/s on one
# core, single-row latency and fit time. Prints a markdown table (docs/benchmarks/iforest.md).
# Usage: scripts/iforest_compare.sh [DATA_DIR] (default ../shared/data/outlier); SEEDS=5.
# AUC_SEEDS=N (e.g. 30) adds columns: ROC AUC over N seeds with the standard error of the
# difference, to tell a real difference from seed noise (one seed's AUC varies by ~0.01-0.02 on
# these sets). The load average before and after the run is printed above the table.
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
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $load_before" >&2
for f in "$data"/*.csv; do
	echo "# $(basename "$f")" >&2
	# Interleaved per set so both implementations meet the same machine load.
	"$work/amoskys" bench iforest --json --seeds "$seeds" --csv "$f" >>"$work/ours.jsonl"
	OMP_NUM_THREADS=1 "$py" "$root/scripts/iforest_sklearn.py" --seeds "$seeds" "$f" >>"$work/sklearn.jsonl"
done
auc_seeds=${AUC_SEEDS:-0}
if [ "$auc_seeds" -gt 0 ]; then
	for f in "$data"/*.csv; do
		echo "# $(basename "$f") ($auc_seeds seeds)" >&2
		"$work/amoskys" bench iforest --json --seeds "$auc_seeds" --csv "$f" >>"$work/ours_auc.jsonl"
		OMP_NUM_THREADS=1 "$py" "$root/scripts/iforest_sklearn.py" --seeds "$auc_seeds" --latency-calls 1 --repeats 1 "$f" >>"$work/sklearn_auc.jsonl"
	done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
touch "$work/ours_auc.jsonl" "$work/sklearn_auc.jsonl"
"$py" - "$work" "$seeds" "$auc_seeds" "$load_before" "$load_after" <<'PY'
import json, math, os, statistics, sys
work, seeds, n, load_before, load_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def rows(name):
    return {r["file"]: r for r in map(json.loads, open(os.path.join(work, name)))}
ours, sk, ours_n, sk_n = rows("ours.jsonl"), rows("sklearn.jsonl"), rows("ours_auc.jsonl"), rows("sklearn_auc.jsonl")
def ms(v):
    return statistics.mean(v), statistics.stdev(v) / math.sqrt(len(v))
# Liu, Ting & Zhou 2008, Table 3 (AUC), as quoted in shared/data/README.md.
liu = {"shuttle": 1.00, "mammography": 0.86, "annthyroid": 0.82, "satellite": 0.71, "pima": 0.67,
       "breastw": 0.99, "ionosphere": 0.85}
print(f"Load average (1, 5, 15 min) {load_before} before the run, {load_after} after it.")
print()
hn = f" | ROC AUC {n} seeds amoskys | sklearn | Δ ± se" if n else ""
print(f"| set | rows × d | ROC AUC {seeds} seeds amoskys | sklearn | Δ | AUC ok | max per-seed |Δ|{hn} | Liu et al. | "
      "rows/s 1 core amoskys (CPU) | sklearn (CPU) | speed-up CPU | speed-up wall | rows/s all cores amoskys | "
      "single row µs amoskys (CPU / wall) | sklearn (CPU / wall) | explain µs amoskys | "
      "fit ms amoskys (all cores wall / 1 core CPU) | sklearn (wall / CPU) |")
print("|---" * (18 + (3 if n else 0)) + "|")
worst_d, min_x, min_xw, max_lat, max_fit, worst_n, worst_pd = 1.0, 1e18, 1e18, 0.0, 0.0, 1.0, 0.0
for name in sorted(ours):
    o, s = ours[name], sk[name]
    d = o["roc_auc"] - s["roc_auc"]
    x = o["rows_per_s_1core_cpu"] / s["rows_per_s_1core_cpu"]
    xw = o["rows_per_s_1core"] / s["rows_per_s_1core"]
    worst_d, min_x, min_xw = min(worst_d, d), min(min_x, x), min(min_xw, xw)
    max_lat, max_fit = max(max_lat, o["single_row_us_cpu"]), max(max_fit, o["fit_ms_1core_cpu"])
    base = name.removesuffix(".csv")
    # The forest is scikit-learn's for the same seed, so each seed's AUC can be compared too.
    pd = max(abs(a - b) for a, b in zip(o["roc_auc_seeds"], s["roc_auc_seeds"]))
    worst_pd = max(worst_pd, pd)
    cn = ""
    if n:
        (ma, sa), (mb, sb) = ms(ours_n[name]["roc_auc_seeds"]), ms(sk_n[name]["roc_auc_seeds"])
        worst_n = min(worst_n, ma - mb)
        cn = f" | {ma:.4f} | {mb:.4f} | {ma-mb:+.4f} ± {math.hypot(sa, sb):.4f}"
        worst_pd = max(worst_pd, max(abs(a - b) for a, b in zip(ours_n[name]["roc_auc_seeds"], sk_n[name]["roc_auc_seeds"])))
    print(f"| {base} | {o['rows']} × {o['features']} | {o['roc_auc']:.3f} | {s['roc_auc']:.3f} | {d:+.3f} | "
          f"{'yes' if d >= -0.01 else 'NO'} | {pd:.1e}{cn} | {liu.get(base, '—')} | {o['rows_per_s_1core_cpu']:,.0f} | "
          f"{s['rows_per_s_1core_cpu']:,.0f} | {x:.1f}× | {xw:.1f}× | {o['rows_per_s_all']:,.0f} | "
          f"{o['single_row_us_cpu']:.2f} / {o['single_row_us']:.2f} | {s['single_row_us_cpu']:,.0f} / {s['single_row_us']:,.0f} | "
          f"{o['single_explain_us']:.1f} | {o['fit_ms']:.1f} / {o['fit_ms_1core_cpu']:.1f} | {s['fit_ms']:.0f} / {s['fit_ms_cpu']:.0f} |")
print()
print(f"Seeds 0..{seeds-1} for each implementation. Worst AUC difference {worst_d:+.3f} (goal ≥ -0.01)"
      + (f"; over seeds 0..{n-1} {worst_n:+.4f}" if n else "")
      + f"; largest difference of one seed's AUC between the two {worst_pd:.1e} (the same forest for the same seed); "
      f"slowest single-core speed-up {min_x:.1f}× in CPU time, {min_xw:.1f}× in wall time (goal ≥ 20×, aim 50×); "
      f"worst single-row latency {max_lat:.2f} µs CPU (goal < 10 µs); slowest fit of 100 trees × 256 "
      f"{max_fit:.1f} ms CPU on one core (goal < 50 ms).")
PY
