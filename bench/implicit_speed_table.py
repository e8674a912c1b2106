"""Medians of bench/implicit_speed.sh's runs and aerec's speed-up over the
PyTorch reference, per shape; a full epoch extrapolated from the batches
(277 batches on the ML-20M shape, 643 on Beauty's); the GFLOP/s each
implementation achieves on the flops it really does, against the two
cores' peak, and the rate 10x would need.

Flops of one batch (B = 500 users, hidden h = 600, latent z = 200, the
VAE's code layer c = 2z, n items, nnz clicks in the batch), each product
counted 2 flops a multiply-add, forward and the two backward products:
  both:   6 B h n (output layer) + 6 B h (c + z) (code and decoder layers)
  aerec:  + 4 nnz h   (sparse first layer: the gathered rows and their gradient)
  torch:  + 4 B n h   (dense first layer: x W1 and W1's gradient; x needs none)
The peak: 2 cores x 2.6 GHz x 32 f32 flops a cycle (Zen 4: two 256-bit FMA
pipes; AVX-512 runs as two halves) = 166 GFLOP/s; vdpbf16ps does twice the
flops an instruction (bf16 products, f32 sums): 333 GFLOP/s."""

import json
import statistics
import sys

EPOCH_BATCHES = {26744: 277, 133212: 643}
PER_USER = {26744: 72, 133212: 3}
PEAK_F32, PEAK_BF16 = 2 * 2.6e9 * 32, 2 * 2 * 2.6e9 * 32
B, H, Z = 500, 600, 200


def flops(items, dense_input):
    shared = 6 * B * H * items + 6 * B * H * (2 * Z + Z)
    if dense_input:
        return shared + 4 * B * items * H
    return shared + 4 * B * PER_USER.get(items, 0) * H


runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
for items in sorted({r["items"] for r in runs}):
    per = {}
    gemm = {"f32": [], "bf16": []}
    for r in runs:
        if r["items"] != items:
            continue
        if r["model"] == "torch-gemm":
            gemm["f32"].append(r["gflops_f32"])
            gemm["bf16"].append(r["gflops_bf16"])
        else:
            per.setdefault(r["model"], []).append(r["seconds_per_batch"])
    a, t = per.get("aerec-mult-vae", []), per.get("torch-mult-vae", [])
    if not a or not t:
        continue
    ma, mt = statistics.median(a), statistics.median(t)
    ratios = [y / x for x, y in zip(a, t)]
    fa, ft = flops(items, False), flops(items, True)
    epoch = EPOCH_BATCHES.get(items, 0)
    print(f"## {items} items")
    print(f"aerec {ma:.3f} s/batch (runs {', '.join(f'{x:.2f}' for x in a)}), "
          f"PyTorch {mt:.3f} s/batch (runs {', '.join(f'{x:.2f}' for x in t)}); "
          f"speed-up of medians {mt / ma:.2f}x, round by round "
          f"{', '.join(f'{x:.2f}' for x in ratios)}; epoch of {epoch} batches: "
          f"aerec {ma * epoch / 60:.1f} min, PyTorch {mt * epoch / 60:.1f} min")
    print(f"flops a batch: aerec {fa / 1e9:.1f} G, PyTorch {ft / 1e9:.1f} G ({ft / fa:.2f}x); "
          f"achieved: aerec {fa / ma / 1e9:.1f} GFLOP/s ({fa / ma / PEAK_F32:.0%} of the f32 peak), "
          f"PyTorch {ft / mt / 1e9:.1f} GFLOP/s ({ft / mt / PEAK_F32:.0%})")
    if gemm["f32"]:
        print(f"torch's output-layer products alone: f32 {statistics.median(gemm['f32']):.1f} GFLOP/s, "
              f"bf16 {statistics.median(gemm['bf16']):.1f} GFLOP/s (medians of "
              f"{len(gemm['f32'])} runs)")
    need = 10 * fa / mt
    print(f"10x PyTorch's batch would need aerec at {need / 1e9:.0f} GFLOP/s on its own flops: "
          f"{need / PEAK_F32:.1f}x the f32 peak, {need / PEAK_BF16:.1f}x the bf16 peak; "
          f"at the f32 peak aerec would be {mt / (fa / PEAK_F32):.1f}x PyTorch's time, "
          f"at the bf16 peak {mt / (fa / PEAK_BF16):.1f}x")
