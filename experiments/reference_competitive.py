"""An independent implementation of the reference setup of van Rossum & Pache (2024), paper C.

Written from the paper's description only, sharing no code with spikegate (no spikegate
import), to check spikegate's rate backend: 784 inputs + bias -> N leaky-ReLU units
(slope 0.1, + bias) -> 10 linear outputs, mean-squared error, one sample per step, learning
rate 0.01 in both layers, Gaussian initial weights (sigma 0.03), mean-subtracted inputs,
test accuracy checked every 2,000 samples, stop at >= 95 % (at most 5 epochs).
Energies are counted from the explicit dense update matrices:
M0 = number of non-zero dw, M1 = sum |dw|.

Usage: python experiments/reference_competitive.py --hidden 1000 [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import gzip
import struct
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(directory: Path):
    def get(stem):
        for name in (stem + ".gz", stem):
            if (directory / name).exists():
                return read_idx(directory / name)
        raise FileNotFoundError(directory / stem)
    xtr = get("train-images-idx3-ubyte").reshape(-1, 784) / 255.0
    xte = get("t10k-images-idx3-ubyte").reshape(-1, 784) / 255.0
    return xtr, get("train-labels-idx1-ubyte").astype(int), xte, get("t10k-labels-idx1-ubyte").astype(int)


def train_reference(xtr, ytr, xte, yte, n_hidden, lr=0.01, sigma=0.03, slope=0.1, target=0.95, test_every=2000,
                    max_epochs=5, seed=0):
    """Per-sample SGD until the test accuracy reaches ``target``; returns a dict of counts."""
    rng = np.random.default_rng(seed)
    mean = xtr.mean(axis=0)
    xtr, xte = xtr - mean, xte - mean
    n_in, n_out = xtr.shape[1], int(ytr.max()) + 1
    w1 = rng.normal(0.0, sigma, size=(n_in + 1, n_hidden))      # input (+bias) -> hidden
    w2 = rng.normal(0.0, sigma, size=(n_hidden + 1, n_out))     # hidden (+bias) -> output
    w1_start, w2_start = w1.copy(), w2.copy()
    eye = np.eye(n_out)
    m0 = 0
    m1 = 0.0
    seen = 0
    history = []
    t0 = time.perf_counter()

    def accuracy():
        h = np.hstack([xte, np.ones((len(xte), 1))]) @ w1
        a = np.hstack([np.maximum(h, slope * h), np.ones((len(xte), 1))])
        return float(np.mean(np.argmax(a @ w2, axis=1) == yte))

    for epoch in range(max_epochs):
        for s in rng.permutation(len(xtr)):
            x = np.append(xtr[s], 1.0)
            h = x @ w1
            a = np.append(np.maximum(h, slope * h), 1.0)
            y = a @ w2
            err = y - eye[ytr[s]]                                  # dE/dy for E = |y - t|^2 / 2
            g_hidden = (w2[:-1] @ err) * np.where(h > 0, 1.0, slope)
            dw2 = -lr * np.outer(a, err)
            dw1 = -lr * np.outer(x, g_hidden)
            m0 += np.count_nonzero(dw1) + np.count_nonzero(dw2)
            m1 += np.abs(dw1).sum() + np.abs(dw2).sum()
            w1 += dw1
            w2 += dw2
            seen += 1
            if seen % test_every == 0:
                acc = accuracy()
                history.append((seen, acc))
                if acc >= target:
                    return _result(seen, acc, m0, m1, w1, w2, w1_start, w2_start, history, t0)
    return _result(None, history[-1][1] if history else accuracy(), m0, m1, w1, w2, w1_start, w2_start, history, t0)


def _result(seen, acc, m0, m1, w1, w2, w1_start, w2_start, history, t0):
    m_min = float(np.abs(w1 - w1_start).sum() + np.abs(w2 - w2_start).sum())
    return {"samples_to_target": seen, "test_accuracy": acc, "n_writes": int(m0), "sum_abs_dw": float(m1),
            "m_min": m_min, "inefficiency": m1 / m_min, "history": history,
            "wall_seconds": time.perf_counter() - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=1000)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = train_reference(*load(Path(args.data_dir)), n_hidden=args.hidden, seed=args.seed)
    print({k: v for k, v in res.items() if k != "history"})


if __name__ == "__main__":
    main()
