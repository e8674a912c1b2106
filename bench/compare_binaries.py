"""Two aerec binaries side by side, interleaved rounds (the order alternates
each round), on reading (`aerec stats` of a 4M-line CSV shaped like
MovieLens 20M, generated once with seed 1) and on training (the I-AutoRec
u1 config for 60 epochs on ../shared/data/ml-100k). Prints per-round times,
medians and the per-round ratio new/old.

    python3 bench/compare_binaries.py OLD_AEREC NEW_AEREC [ROUNDS]
"""
import subprocess, time, statistics, sys, os, random
main_bin = sys.argv[1]
mine_bin = sys.argv[2]
os.makedirs('target/bench-data', exist_ok=True)
data = 'target/bench-data/ml20m-shaped-4m.csv'
if not os.path.exists(data):
    rng = random.Random(1)
    with open(data, 'w') as f:
        f.write('userId,movieId,rating,timestamp\n')
        seen = set()
        for u in range(1, 40001):
            for _ in range(100):
                i = rng.randint(1, 26744)
                if (u, i) in seen: continue
                seen.add((u, i))
                f.write(f'{u},{i},{rng.randint(1,10)/2},{1400000000+rng.randint(0,10**8)}\n')
        seen = None
jobs = {
  'read (aerec stats, 4M-line ML-20M-shaped CSV)': ['stats', data, '--quiet'],
  'train (I-AutoRec u1 config, 60 epochs)': ['train', '--data', '../shared/data/ml-100k/u.data', '--method', 'ml100k-u1',
      '--config', 'examples/configs/engine-ml100k-u1-iautorec.toml', '--epochs', '60', '--quiet', '--seed', '1'],
}
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 9
res = {j: {'old': [], 'new': []} for j in jobs}
for r in range(rounds):
    order = [('old', main_bin), ('new', mine_bin)]
    if r % 2: order.reverse()
    for j, args in jobs.items():
        for name, b in order:
            t = time.perf_counter()
            p = subprocess.run([b] + args, capture_output=True, text=True)
            dt = time.perf_counter() - t
            if p.returncode != 0:
                print(name, j, 'failed', p.stderr[-500:]); sys.exit(1)
            res[j][name].append(dt)
    print('round', r + 1, {j: (round(v['old'][-1], 2), round(v['new'][-1], 2)) for j, v in res.items()}, flush=True)
for j, v in res.items():
    ratios = [h / m for h, m in zip(v['new'], v['old'])]
    print(f"{j}: old median {statistics.median(v['old']):.2f} s, new median {statistics.median(v['new']):.2f} s, "
          f"new/old per-round median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}), {rounds} rounds")
