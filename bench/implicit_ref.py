"""Reference implementations for the implicit-feedback benchmark, written for
it: EASE in numpy (Steck, WWW 2019) and Mult-VAE / Mult-DAE in PyTorch (Liang
et al., WWW 2018, after the structure of the paper's own code: L2-normalised
input, dropout 0.5, tanh 600, latent 200, multinomial log-likelihood, KL
annealed over 200 000 updates capped at 0.2, Adam 1e-3, batches of 500).

They read the split `examples/implicit_bench.rs` wrote (`SPLIT_DIR` holds
train.csv, valid_*.csv, test_*.csv and items.csv, the catalogue in aerec's
index order) and measure the test users exactly as `aerec::eval::protocol`:
fold in the fed items, rank every other item of the catalogue, Recall@K =
hits / min(K, relevant), NDCG@K with min(K, relevant) ideal hits.

    python3 -m venv target/pyenv && target/pyenv/bin/pip install numpy torch pandas
    target/pyenv/bin/python bench/implicit_ref.py SPLIT_DIR SEED [ease|mult-vae|mult-dae|speed ...]

One JSON line per model on stdout. `speed ITEMS USERS NNZ_PER_USER BATCHES`
instead times Mult-VAE training batches on a synthetic matrix of that shape;
`gemm ITEMS` measures torch's f32 and bf16 matrix products of the output
layer's shapes alone (GFLOP/s, median of 3).
"""

import json
import os
import sys
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

# Two threads, the cores aerec gets; REF_THREADS=1 for accuracy runs on a
# crowded machine, where OpenMP's spinning threads lose more than they gain.
torch.set_num_threads(int(os.environ.get("REF_THREADS", "2")))


def load(split_dir):
    items = pd.read_csv(f"{split_dir}/items.csv", dtype=str)["item"].tolist()
    index = {item: k for k, item in enumerate(items)}
    parts = {}
    users = {}
    for name in ["train", "valid_fold_in", "valid_scored", "test_fold_in", "test_scored"]:
        df = pd.read_csv(f"{split_dir}/{name}.csv", dtype={"user": str, "item": str})
        u = [users.setdefault(x, len(users)) for x in df["user"]]
        i = [index[x] for x in df["item"]]
        parts[name] = (np.array(u), np.array(i), df["rating"].to_numpy(np.float32))
    return len(items), len(users), parts


def rows(part, n_users, n_items):
    """Dense user × item matrix of one part (rows: every user id seen)."""
    u, i, v = part
    x = np.zeros((n_users, n_items), dtype=np.float32)
    x[u, i] = v
    return x


def metrics(scores, fed, scored, ks=(20, 50, 100)):
    """Per-user Recall@K (hits / min(K, relevant)) and NDCG@K, MAP@K."""
    out = {f"{m}{k}": [] for k in ks for m in ("recall", "ndcg", "map")}
    kmax = max(ks)
    users = 0
    for s, f, rel in zip(scores, fed, scored):
        relevant = set(np.flatnonzero(rel))
        if not relevant:
            continue
        users += 1
        s = s.astype(np.float64).copy()
        s[f > 0] = -np.inf
        # Best first, ties to the lower index (as aerec's top_n).
        order = np.lexsort((np.arange(len(s)), -s))[:kmax]
        hits = np.array([o in relevant for o in order], dtype=np.float64)
        for k in ks:
            n = min(k, len(relevant))
            h = hits[:k]
            disc = 1.0 / np.log2(np.arange(2, k + 2))
            out[f"recall{k}"].append(h.sum() / n)
            out[f"ndcg{k}"].append((h * disc[: len(h)]).sum() / disc[:n].sum())
            prec = np.cumsum(h) / np.arange(1, len(h) + 1)
            out[f"map{k}"].append((prec * h).sum() / n)
    return {k: float(np.mean(v)) for k, v in out.items()}, users


def ease(x, lam):
    g = x.T.astype(np.float64) @ x.astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return b


class Mult(torch.nn.Module):
    def __init__(self, n, variational, hidden=600, latent=200, dropout=0.5):
        super().__init__()
        self.variational, self.latent, self.dropout = variational, latent, dropout
        self.enc = torch.nn.Linear(n, hidden)
        self.code = torch.nn.Linear(hidden, 2 * latent if variational else latent)
        self.dec = torch.nn.Linear(latent, hidden)
        self.out = torch.nn.Linear(hidden, n)
        for layer in (self.enc, self.code, self.dec, self.out):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.normal_(layer.bias, std=0.001)

    def forward(self, x):
        h = F.dropout(F.normalize(x, dim=1), self.dropout, self.training)
        h = torch.tanh(self.enc(h))
        c = self.code(h)
        if self.variational:
            mu, logvar = c[:, : self.latent], c[:, self.latent :]
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        else:
            mu = logvar = None
            z = torch.tanh(c)
        return self.out(torch.tanh(self.dec(z))), mu, logvar


def train_mult(x, variational, valid, epochs=200, batch=500, lr=1e-3, patience=20, seed=0,
               anneal_steps=200_000, beta_cap=0.2, l2=None):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = x.shape[1]
    model = Mult(n, variational)
    if l2 is None:
        l2 = 0.0 if variational else 0.01 / batch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    weights = [model.enc.weight, model.code.weight, model.dec.weight, model.out.weight]
    users = np.flatnonzero(x.sum(1) > 0)
    updates, best, best_state, best_epoch = 0, -1.0, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        rng.shuffle(users)
        for start in range(0, len(users), batch):
            xb = torch.from_numpy(x[users[start : start + batch]])
            logits, mu, logvar = model(xb)
            loss = -(F.log_softmax(logits, 1) * xb).sum(1).mean()
            if variational:
                beta = min(beta_cap, updates / anneal_steps)
                loss = loss + beta * (0.5 * (-logvar + logvar.exp() + mu**2 - 1)).sum(1).mean()
            if l2 > 0:
                loss = loss + l2 * sum((w**2).sum() for w in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
        if valid is not None:
            score = metrics(predict(model, valid[0]), valid[0], valid[1], ks=(100,))[0]["ndcg100"]
            if score > best:
                best, best_epoch = score, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            elif epoch - best_epoch >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, best_epoch


def predict(model, fed):
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(fed))[0].numpy()


def held_out(parts, fed_name, scored_name, n_items):
    fu, fi, fv = parts[fed_name]
    su, si, sv = parts[scored_name]
    users = np.unique(su)
    remap = {u: k for k, u in enumerate(users)}
    fed = np.zeros((len(users), n_items), dtype=np.float32)
    scored = np.zeros((len(users), n_items), dtype=np.float32)
    for u, i, v in zip(fu, fi, fv):
        if u in remap:
            fed[remap[u], i] = v
    for u, i, v in zip(su, si, sv):
        scored[remap[u], i] = v
    return fed, scored


def speed(n_items, n_users, per_user, batches, seed=0):
    """Seconds for `batches` Mult-VAE training batches of 500 on a random
    matrix of the given shape (the same work per batch as a full epoch's)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_users, n_items), dtype=np.float32)
    for u in range(n_users):
        x[u, rng.choice(n_items, size=per_user, replace=False)] = 1.0
    model = Mult(n_items, True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for b in range(batches):
        xb = torch.from_numpy(x[(b * 500) % n_users : (b * 500) % n_users + 500])
        logits, mu, logvar = model(xb)
        loss = -(F.log_softmax(logits, 1) * xb).sum(1).mean()
        loss = loss + 0.2 * (0.5 * (-logvar + logvar.exp() + mu**2 - 1)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def gemm_rates(n_items, reps=3, batch=500, hidden=600):
    """GFLOP/s of the three output-layer products of a Mult-VAE batch as
    torch runs them on this CPU (forward g @ W5, dW5 = g.T @ d, dg = d @ W5.T),
    in f32 and in bf16 (oneDNN's AVX512_BF16 kernels where the CPU has them):
    the ceiling of the primitive both implementations spend their time in."""
    out = {}
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        g = torch.randn(batch, hidden).to(dtype)
        w = torch.randn(hidden, n_items).to(dtype)
        d = torch.randn(batch, n_items).to(dtype)
        products = (lambda: g @ w, lambda: g.T @ d, lambda: d @ w.T)
        for p in products:  # warm-up: oneDNN picks and packs its kernels
            p()
        best = []
        for _ in range(reps):
            start = time.perf_counter()
            for p in products:
                p()
            best.append(time.perf_counter() - start)
        flops = 3 * 2 * batch * hidden * n_items
        out[name] = flops / sorted(best)[len(best) // 2] / 1e9
    return out


def main():
    if sys.argv[1] == "gemm":
        n_items = int(sys.argv[2])
        rates = gemm_rates(n_items)
        print(json.dumps({"model": "torch-gemm", "items": n_items, "threads": torch.get_num_threads(),
                          "gflops_f32": rates["f32"], "gflops_bf16": rates["bf16"]}))
        return
    if sys.argv[1] == "speed":
        n_items, n_users, per_user, batches = map(int, sys.argv[2:6])
        secs = speed(n_items, n_users, per_user, batches)
        print(json.dumps({"model": "torch-mult-vae", "items": n_items, "batches": batches,
                          "seconds": secs, "seconds_per_batch": secs / batches}))
        return
    split_dir, seed = sys.argv[1], int(sys.argv[2])
    which = sys.argv[3:] or ["ease", "mult-vae", "mult-dae"]
    n_items, n_users, parts = load(split_dir)
    x = rows(parts["train"], n_users, n_items)
    valid = held_out(parts, "valid_fold_in", "valid_scored", n_items)
    test = held_out(parts, "test_fold_in", "test_scored", n_items)
    for name in which:
        start = time.perf_counter()
        extra = {}
        if name == "ease":
            best = (-1.0, None)
            for lam in [50.0, 100.0, 200.0, 500.0, 1000.0]:
                b = ease(x, lam)
                ndcg = metrics(valid[0] @ b, valid[0], valid[1], ks=(100,))[0]["ndcg100"]
                best = max(best, (ndcg, lam))
            b = ease(x, best[1])
            scores = test[0] @ b
            extra = {"lambda": best[1]}
        else:
            model, epoch = train_mult(x, name == "mult-vae", valid, seed=seed)
            scores = predict(model, test[0])
            extra = {"best_epoch": epoch}
        m, users = metrics(scores, test[0], test[1])
        print(json.dumps({"seed": seed, "model": "ref-" + name, "users": users,
                          "recall20": m["recall20"], "recall50": m["recall50"],
                          "ndcg100": m["ndcg100"], "map100": m["map100"],
                          "seconds": time.perf_counter() - start, **extra}))


if __name__ == "__main__":
    main()
