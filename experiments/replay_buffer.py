"""Claim (Pache & van Rossum 2026, arXiv 2604.14336): with mistake gating, online learning with replay needs a smaller buffer.

Online learning: a 784-100-10 rate network sees each training image once. Every image that
opens the gate is stored in a replay buffer (``always``: every image; ``lazy``/``memorized``:
only mistaken ones); afterwards the buffer is replayed for a few epochs with the same gate.
Control: a random buffer of the same size as the lazy one, replayed with ``always``.
Reported per gate: buffer size, test accuracy after the online pass and after replay, and the
writes spent. The claim holds if a gated buffer is much smaller and reaches a comparable
accuracy (within 1 point of ``always``).

Usage: python experiments/replay_buffer.py [--quick] [--replay-epochs 3]
"""
from __future__ import annotations

import numpy as np

from _common import (accuracy, claim_line, dataset, parser, pyplot, rate_model, run_main, save_figure, table,
                     write_summary)

from spikegate import train

GATES = ("always", "lazy", "memorized")


def main():
    ap = parser(__doc__)
    ap.add_argument("--replay-epochs", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=100)
    args = ap.parse_args()
    ds = dataset(args)
    layers = [ds.n_pixels, args.hidden, 10]
    stream = np.random.default_rng(args.seed).permutation(len(ds.x_train))
    rows = []
    buffers = {}

    def learn(gate, samples, epochs, start=None):
        return train(rate_model(args, layers, gate), overrides=[("train.epochs", epochs)], dataset=ds,
                     samples=samples, initial_weights=start, progress=False)

    for gate in GATES + ("random buffer (control)",):
        control = gate.startswith("random")
        if control:
            size = len(buffers["lazy"])
            buffer = np.random.default_rng(args.seed + 5).choice(stream, size=size, replace=False)
            m0_online, online_acc, start = 0, float("nan"), None
        else:
            online = learn(gate, stream, 1)
            ledger = online.ledger
            buffer = ledger.samples[ledger.gate_open]   # each sample is presented once: opened == stored
            m0_online, online_acc, start = ledger.m0, accuracy(online.classifier, ds), online.final_weights
        buffers[gate] = buffer
        replay = learn("always" if control else gate, buffer, args.replay_epochs, start)
        rows.append({"gate": gate, "buffer_size": len(buffer), "buffer_fraction": len(buffer) / len(stream),
                     "online_accuracy": online_acc, "final_accuracy": accuracy(replay.classifier, ds),
                     "M0_online": m0_online, "M0_replay": replay.ledger.m0, "M0_total": m0_online + replay.ledger.m0})
        print(table(rows[-1:], list(rows[-1])), flush=True)
    base = rows[0]
    for r in rows:
        r["accuracy_minus_always_points"] = 100 * (r["final_accuracy"] - base["final_accuracy"])
    gated = [r for r in rows if r["gate"] in ("lazy", "memorized")]
    holds = all(r["buffer_fraction"] < 0.5 and r["accuracy_minus_always_points"] > -1 for r in gated)
    summary = {"claim": "online learning with replay needs a smaller buffer under mistake gating, since only "
                        "mistaken samples are stored (Pache & van Rossum 2026)",
               "test_of_claim": "gated buffers < 50 % of the stream, final accuracy within 1 point of always",
               "stream_length": len(stream), "replay_epochs": args.replay_epochs, "rows": rows,
               "claim_holds": None if args.quick else holds}
    folder = write_summary(args, "replay_buffer", summary)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["buffer_size"], r["final_accuracy"], s=40)
        ax.annotate(r["gate"], (r["buffer_size"], r["final_accuracy"]), fontsize=8)
    ax.set(xscale="log", xlabel="replay buffer size (samples)", ylabel="test accuracy after replay")
    save_figure(fig, folder)
    print(table(rows, ["gate", "buffer_size", "buffer_fraction", "online_accuracy", "final_accuracy",
                       "accuracy_minus_always_points", "M0_total"]))
    print(claim_line("Pache & van Rossum 2026", "smaller replay buffer with mistake gating",
                     "; ".join(f"{r['gate']}: buffer {r['buffer_fraction']:.1%} of the stream, accuracy "
                               f"{r['accuracy_minus_always_points']:+.2f} points vs always" for r in gated),
                     summary["claim_holds"]))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
