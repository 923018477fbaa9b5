"""Claim (van Rossum & Pache 2024, PLOS Comput Biol): competitive plasticity saves much energy for little extra time.

Restrictions of plasticity, after gating (gate ``always``): keep only the top 10 % of |dw|
per layer or per postsynaptic neuron; plasticity only in a fixed subset of 20 % of the
hidden units (their in- and outgoing synapses: paths); the combination; and random-mask
controls of the same sizes. For each hidden size N: energy M1 = sum |dw| and writes M0
spent to reach the target test accuracy (at most 3 epochs), the saving relative to
unrestricted learning, and the extra learning time (samples to target / unrestricted). The paper's claim: large
savings for a small slowdown, larger savings in over-sized networks.

Usage: python experiments/competitive.py [--quick] [--hidden 100 300] [--target 0.95]
"""
from __future__ import annotations

from _common import claim_line, dataset, parser, pyplot, rate_model, run_main, save_figure, table, write_summary

from spikegate.training import train

MAX_EPOCHS = 3


def variants(n_hidden):
    k = max(1, round(0.2 * n_hidden))
    return {
        "none": {},
        "top10%-layer": {"top_fraction": 0.1},
        "top10%-neuron": {"top_fraction": 0.1, "top_per": "neuron"},
        f"subset{k}": {"subset": k},
        f"subset{k}+top10%": {"subset": k, "top_fraction": 0.1},
        "control: random10%-layer": {"top_fraction": 0.1, "control": True},
        f"control: random-mask{k}": {"subset": k, "control": True},
    }


def main():
    ap = parser(__doc__)
    ap.add_argument("--hidden", type=int, nargs="+")
    ap.add_argument("--target", type=float)
    args = ap.parse_args()
    ds = dataset(args)
    sizes = args.hidden or ([30, 100] if args.quick else [100, 300])
    target = args.target or (0.92 if args.quick else 0.95)
    every = 200 if args.quick else 2000
    rows = []
    for n in sizes:
        base = None
        for name, restrict in variants(n).items():
            model = rate_model(args, [ds.n_pixels, n, 10], restrict=restrict,
                               train={"epochs": MAX_EPOCHS, "eval_every": every,
                                      "target_accuracy": target})
            m = train(model, dataset=ds, progress=False).metrics
            row = {"N": n, "restriction": name, "reached": m["reached_target"], "test_accuracy": m["test_accuracy"],
                   "samples_to_target": m["samples_to_target"], "M0": m["n_writes"], "M1": m["sum_abs_dw"],
                   "M_min": m["m_min"], "train_seconds": m["train_seconds"]}
            if name == "none":
                base = row
            ok = row["reached"] and base["reached"]
            row["energy_saving_percent"] = 100 * (1 - row["M1"] / base["M1"]) if ok else None
            row["writes_saving_percent"] = 100 * (1 - row["M0"] / base["M0"]) if ok else None
            row["slowdown"] = row["samples_to_target"] / base["samples_to_target"] if ok else None
            rows.append(row)
            print(table(rows[-1:], list(rows[-1])), flush=True)
    combined = [r for r in rows if "+" in r["restriction"]]
    holds = None
    if not args.quick and all(r["reached"] for r in combined):
        holds = all(r["energy_saving_percent"] > 50 and r["slowdown"] < 2 for r in combined) and \
            combined[-1]["energy_saving_percent"] >= combined[0]["energy_saving_percent"]
    summary = {"claim": "restricting plasticity to the largest updates and to paths saves much energy for a small "
                        "increase in learning time; larger savings in over-sized networks (van Rossum & Pache 2024)",
               "target_accuracy": target, "max_epochs": MAX_EPOCHS, "n_train": len(ds.x_train), "rows": rows,
               "test_of_claim": "combined restriction: energy (M1) saving > 50 % with < 2x samples, growing with N",
               "claim_holds": holds}
    folder = write_summary(args, "competitive", summary)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in sizes:
        group = [r for r in rows if r["N"] == n and r["slowdown"] is not None]
        ax.scatter([r["slowdown"] for r in group], [r["energy_saving_percent"] for r in group], label=f"N={n}")
        for r in group:
            ax.annotate(r["restriction"], (r["slowdown"], r["energy_saving_percent"]), fontsize=6)
    ax.set(xlabel="learning time (samples to target / unrestricted)", ylabel="energy M1 saved (%)",
           title=f"restrictions to {target:.0%} test accuracy")
    ax.legend()
    save_figure(fig, folder)
    print(table(rows, ["N", "restriction", "reached", "samples_to_target", "M0", "M1", "energy_saving_percent",
                       "writes_saving_percent", "slowdown"]))
    measured = "; ".join(f"N={r['N']} {r['restriction']}: "
                         + (f"{r['energy_saving_percent']:.0f} % less M1, {r['slowdown']:.2f}x samples"
                            if r["slowdown"] else "target not reached") for r in combined)
    print(claim_line("van Rossum & Pache 2024", "combined restrictions: large saving, small slowdown, larger when "
                     "over-sized", measured, holds))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
