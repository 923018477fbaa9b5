"""Start-up of the compiled engine on a built structure: from ``train()`` to the binary's first start.

A second training of an unchanged structure finds the project built and verified by its
checksums and starts the binary from the recorded layout: no Brian2 object is created and no
code generated. Printed: the imports (Python, Brian2, spikegate), then the seconds from
``train()`` to the first start of the binary, for the first (building) and a second process.

    python benchmarks/startup.py [--model models/digits.toml] [--repeat 3] [--set data.dir=DIR ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import brian2
t_brian = time.perf_counter()
import spikegate
from spikegate import train
t_import = time.perf_counter()
t_train = time.perf_counter()
res = train(sys.argv[1], overrides=["train.device=cpp_standalone", "train.epochs=1", *sys.argv[2:]], progress=False)
print(json.dumps({"brian2_import": t_brian - t0, "spikegate_import": t_import - t_brian,
                  "train_to_binary": res.classifier.first_run_started - t_train,
                  "built": res.classifier.compile_seconds > 0, "compile_seconds": res.classifier.compile_seconds}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "models", "digits.toml"))
    ap.add_argument("--repeat", type=int, default=3, help="processes after the first (default 3)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="model overrides, e.g. data.dir=... data.n_train=10000")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SPIKEGATE_CACHE": cache}
        runs = []
        for k in range(1 + args.repeat):
            out = subprocess.run([sys.executable, "-c", CHILD, args.model, *args.overrides], capture_output=True,
                                 text=True, env=env, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.model} {' '.join(args.overrides)}")
    for k, r in enumerate(runs):
        print(f"process {k + 1} ({'builds' if r['built'] else 'finds the build'}): import brian2 "
              f"{r['brian2_import']:.2f} s, spikegate {r['spikegate_import']:.2f} s; train() to the binary's first "
              f"start {r['train_to_binary']:.3f} s" + (f" (build {r['compile_seconds']:.1f} s)" if r["built"] else ""))
    later = sorted(r["train_to_binary"] for r in runs[1:])
    if later:
        print(f"later processes: median {later[len(later) // 2]:.3f} s from train() to the binary "
              f"(the bar: under 1 s beyond the imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
