"""Claim (Pache & van Rossum 2026, arXiv 2604.14336): mistake gating is best on a background of existing knowledge.

A 784-100-10 rate network is pre-trained (gate ``always``) on half of the training
images of digits 0-4. From that same starting point each gate then learns
  * "new classes": the training images of digits 5-9 (no rehearsal of 0-4);
  * "new samples": the other half of the images of digits 0-4 (classes already known);
  * "from scratch": those same new 0-4 samples, from untrained weights (no prior knowledge).
Reported per task and gate: writes (M0) and M1, writes saved vs ``always``, accuracy on
the old classes, the new classes and all, and forgetting (old-class accuracy lost).
The claim holds if gating saves more writes with prior knowledge ("new samples") than
without it ("from scratch") at a comparable accuracy.

Usage: python experiments/incremental.py [--quick] [--epochs 2]
"""
from __future__ import annotations

import numpy as np

from _common import (accuracy, claim_line, dataset, parser, pyplot, rate_model, run_main, save_figure, table,
                     write_summary)

from spikegate import train

GATES = ("always", "lazy", "memorized")
OLD, NEW = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]


def main():
    ap = parser(__doc__)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per task")
    ap.add_argument("--hidden", type=int, default=100)
    args = ap.parse_args()
    ds = dataset(args)
    layers = [ds.n_pixels, args.hidden, 10]
    rng = np.random.default_rng(args.seed)
    old = rng.permutation(np.flatnonzero(np.isin(ds.y_train, OLD)))
    pre, fresh = old[: len(old) // 2], old[len(old) // 2:]
    new = np.flatnonzero(np.isin(ds.y_train, NEW))

    def learn(gate, samples, epochs, start=None):
        return train(rate_model(args, layers, gate), overrides=[("train.epochs", epochs)], dataset=ds,
                     samples=samples, initial_weights=start, progress=False)

    pre_res = learn("always", pre, 3 if args.quick else 1)
    pretrained, untrained = pre_res.final_weights, pre_res.initial_weights
    old_before = accuracy(pre_res.classifier, ds, OLD)
    print(f"pre-trained on {len(pre)} images of 0-4: old-class test accuracy {old_before:.4f}")
    tasks = {"new classes": (new, pretrained), "new samples": (fresh, pretrained), "from scratch": (fresh, untrained)}
    rows = []
    for task, (samples, start) in tasks.items():
        for gate in GATES:
            res = learn(gate, samples, args.epochs, start)
            clf, ledger = res.classifier, res.ledger
            old_after = accuracy(clf, ds, OLD)
            before = old_before if start is pretrained else _accuracy_of(res.initial_weights, clf, ds, OLD)
            rows.append({"task": task, "gate": gate, "presentations": ledger.n_presentations, "gated": ledger.n_gated,
                         "M0": ledger.m0, "M1": ledger.m1, "old_accuracy": old_after,
                         "new_accuracy": accuracy(clf, ds, NEW), "all_accuracy": accuracy(clf, ds),
                         "forgetting": before - old_after})
            print(table(rows[-1:], list(rows[-1])), flush=True)
    for r in rows:
        base = next(b for b in rows if b["task"] == r["task"] and b["gate"] == "always")
        r["writes_saved_percent"] = 100 * (1 - r["M0"] / base["M0"])

    def saved(task, gate):
        return next(r["writes_saved_percent"] for r in rows if r["task"] == task and r["gate"] == gate)
    holds = all(saved("new samples", g) > saved("from scratch", g) for g in GATES[1:])
    summary = {"claim": "mistake gating is best for incremental learning on top of existing knowledge "
                        "(Pache & van Rossum 2026)",
               "test_of_claim": "writes saved vs always are larger for new samples of known classes than for the "
                                "same samples learned from scratch",
               "pretrain_old_accuracy": old_before, "rows": rows, "claim_holds": None if args.quick else holds}
    folder = write_summary(args, "incremental", summary)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.35
    for i, gate in enumerate(GATES[1:]):
        vals = [saved(task, gate) for task in tasks]
        ax.bar(np.arange(len(tasks)) + i * width, vals, width, label=gate)
    ax.set_xticks(np.arange(len(tasks)) + width / 2, list(tasks))
    ax.set(ylabel="writes saved vs always (%)")
    ax.legend()
    save_figure(fig, folder)
    print(table(rows, ["task", "gate", "gated", "M0", "writes_saved_percent", "old_accuracy", "new_accuracy",
                       "all_accuracy", "forgetting"]))
    print(claim_line("Pache & van Rossum 2026", "gating is best on a background of existing knowledge",
                     "; ".join(f"{g}: {saved('new samples', g):.0f} % saved on new samples of known classes vs "
                               f"{saved('from scratch', g):.0f} % from scratch" for g in GATES[1:]),
                     summary["claim_holds"]))
    print(f"summary: {folder / 'summary.json'}")


def _accuracy_of(weights, clf, ds, classes) -> float:
    """Accuracy of ``weights`` (loaded into ``clf`` for the measurement, then restored)."""
    trained = [clf.weights(k) for k in range(len(weights))]
    for k, w in enumerate(weights):
        clf.set_weights(k, w)
    acc = accuracy(clf, ds, classes)
    for k, w in enumerate(trained):
        clf.set_weights(k, w)
    return acc


if __name__ == "__main__":
    run_main(main)
