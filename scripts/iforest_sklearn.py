#!/usr/bin/python3
"""Reference run of scikit-learn's IsolationForest on labelled CSVs (x0..x{d-1},label).

Prints one JSON object per file: mean ROC AUC over seeds, fit time, scored rows/s on one core
and single-row latency. Run with Debian's /usr/bin/python3 (python3-sklearn 1.2.1).
Usage: iforest_sklearn.py [--seeds N] [--trees T] [--samples S] FILE.csv...
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402


def load(path):
    with open(path) as f:
        head = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    li = head.index("label")
    y = data[:, li].astype(int)
    X = np.delete(data, li, axis=1)
    return X, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--latency-calls", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3, help="score_samples calls per seed; the fastest counts")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    for path in a.files:
        X, y = load(path)
        aucs, fits, fits_cpu, rates, lats = [], [], [], [], []
        cpu_rates, cpu_lat = [], 0.0
        for seed in range(a.seeds):
            m = IsolationForest(n_estimators=a.trees, max_samples=a.samples, random_state=seed, n_jobs=1)
            t0, c0 = time.perf_counter(), time.process_time()
            m.fit(X)
            fits.append(time.perf_counter() - t0)
            fits_cpu.append(time.process_time() - c0)
            # Fastest of a few calls: the one least disturbed by other processes (as timeit).
            best_w, best_c = float("inf"), float("inf")
            for _ in range(a.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                s = -m.score_samples(X)
                best_w = min(best_w, time.perf_counter() - t0)
                best_c = min(best_c, time.process_time() - c0)
            rates.append(len(X) / best_w)
            cpu_rates.append(len(X) / max(best_c, 1e-9))
            aucs.append(roc_auc_score(y, s))
            if seed == 0:
                row = X[:1]
                m.score_samples(row)
                c0 = time.process_time()
                for i in range(a.latency_calls):
                    r = X[i % len(X) : i % len(X) + 1]
                    t0 = time.perf_counter()
                    m.score_samples(r)
                    lats.append(time.perf_counter() - t0)
                cpu_lat = (time.process_time() - c0) / a.latency_calls
        print(json.dumps({
            "impl": "sklearn " + sklearn.__version__,
            "file": os.path.basename(path),
            "rows": int(len(X)), "features": int(X.shape[1]), "outliers": int(y.sum()),
            "seeds": a.seeds,
            "roc_auc": float(np.mean(aucs)), "roc_auc_seeds": [float(v) for v in aucs],
            "fit_ms": float(np.mean(fits) * 1e3),
            "fit_ms_cpu": float(np.mean(fits_cpu) * 1e3),
            "rows_per_s_1core": float(np.max(rates)),
            "single_row_us": float(np.median(lats) * 1e6),
            "rows_per_s_1core_cpu": float(np.max(cpu_rates)),
            "single_row_us_cpu": float(cpu_lat * 1e6),
        }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
