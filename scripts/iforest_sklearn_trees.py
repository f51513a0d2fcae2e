#!/usr/bin/python3
"""Fits scikit-learn's IsolationForest and prints its trees and scores as JSON, for
internal/iforest's compatibility test (the forest AMOSKYS grows for a seed is scikit-learn's).

Usage: iforest_sklearn_trees.py FILE.csv SEED [TREES] [SAMPLES] [MAX_FEATURES]
FILE.csv has a header x0..x{d-1}[,label]; a label column is ignored. Each tree is printed in
preorder (left subtree first): feature (a column of the file, -1 at a leaf), threshold and the
number of training rows in the node. scores are 2^(-E[h(x)]/c(psi)), the paper's s(x).
"""
import json
import sys

import numpy as np
from sklearn.ensemble import IsolationForest


def main():
    path, seed = sys.argv[1], int(sys.argv[2])
    trees = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    max_features = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    with open(path) as f:
        head = f.readline().strip().split(",")
    X = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if "label" in head:
        X = np.delete(X, head.index("label"), axis=1)
    m = IsolationForest(n_estimators=trees, max_samples=min(samples, len(X)),
                        max_features=max_features, random_state=seed, n_jobs=1).fit(X)
    out = []
    for est, feats in zip(m.estimators_, m.estimators_features_):
        t = est.tree_
        feature, threshold, size = [], [], []
        stack = [0]
        while stack:
            n = stack.pop()
            leaf = t.children_left[n] == -1
            feature.append(-1 if leaf else int(feats[t.feature[n]]))
            threshold.append(0.0 if leaf else float(t.threshold[n]))
            size.append(int(t.n_node_samples[n]))
            if not leaf:
                stack.append(int(t.children_right[n]))
                stack.append(int(t.children_left[n]))
        out.append({"feature": feature, "threshold": threshold, "size": size})
    print(json.dumps({"trees": out, "scores": [float(v) for v in -m.score_samples(X)]}))


if __name__ == "__main__":
    main()
