"""Medians of bench/implicit_speed.sh's runs and aerec's speed-up over the
PyTorch reference, per shape; a full epoch extrapolated from the batches
(277 batches on the ML-20M shape, 643 on Beauty's); GFLOP/s of the three
dense output-layer products (6 * 500 * 600 * items flops a batch)."""

import json
import statistics
import sys

EPOCH_BATCHES = {26744: 277, 133212: 643}

runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
for items in sorted({r["items"] for r in runs}):
    per = {}
    for r in runs:
        if r["items"] == items:
            per.setdefault(r["model"], []).append(r["seconds_per_batch"])
    a, t = per.get("aerec-mult-vae", []), per.get("torch-mult-vae", [])
    if not a or not t:
        continue
    ma, mt = statistics.median(a), statistics.median(t)
    ratios = [y / x for x, y in zip(a, t)]
    flops = 6 * 500 * 600 * items
    epoch = EPOCH_BATCHES.get(items, 0)
    print(f"{items} items: aerec {ma:.3f} s/batch (runs {', '.join(f'{x:.2f}' for x in a)}), "
          f"PyTorch {mt:.3f} s/batch (runs {', '.join(f'{x:.2f}' for x in t)}); "
          f"speed-up of medians {mt / ma:.2f}x, round by round "
          f"{', '.join(f'{x:.2f}' for x in ratios)}; epoch of {epoch} batches: "
          f"aerec {ma * epoch / 60:.1f} min, PyTorch {mt * epoch / 60:.1f} min; "
          f"output layer {flops / ma / 1e9:.0f} GFLOP/s aerec, {flops / mt / 1e9:.0f} PyTorch")
