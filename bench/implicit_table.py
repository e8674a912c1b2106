"""Mean ± sample standard deviation over seeds of the JSON lines that
examples/implicit_bench.rs and bench/implicit_ref.py print, as a Markdown
table (usage: implicit_table.py FILE.jsonl...)."""

import json
import sys
from collections import defaultdict

import numpy as np

rows = defaultdict(list)
for path in sys.argv[1:]:
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            rows[r["model"]].append(r)

cols = ["recall20", "recall50", "ndcg100", "map100", "coverage100", "popularity20", "seconds"]
print("| model | seeds | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 2) + "|")
for model, rs in rows.items():
    cells = []
    for c in cols:
        v = np.array([r[c] for r in rs if c in r], dtype=float)
        if len(v) == 0:
            cells.append("–")
        elif c == "seconds":
            cells.append(f"{v.mean():.1f}")
        else:
            cells.append(f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f}")
    print(f"| {model} | {len(rs)} | " + " | ".join(cells) + " |")
