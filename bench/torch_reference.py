#!/usr/bin/python3
"""
torch_reference.py — a PyTorch reference for cfrec's seed network and recipe,
for parity (accuracy) and speed comparisons with the C trainer.

    x0 = [U[user] V[item]]                          (embeddings, dim 100, N(0, 0.01²))
    x1 = dropout(relu(bn1(x0)), 0.1)                (BatchNorm1d(200))
    h  = Linear(200, 500)(x1)
    x2 = dropout(relu(bn2(h)), 0.2)                 (BatchNorm1d(500))
    ŷ  = Linear(500, 1)(x2)                         loss = MSE

Adam (0.9, 0.999, eps 1e-8, weight_decay 1e-5 added to the gradient), batch
1024 reshuffled every epoch, a final batch of size 1 dropped.  Without --lr a
fastai-style range test (1e-7 → 10 over 100 batches, 'valley' rule) picks the
peak rate; training follows ULMFiT's slanted triangular schedule per batch.

Run with Debian's python (the torch package lives there):

    /usr/bin/python3 bench/torch_reference.py --train u1.base --test u1.test
    /usr/bin/python3 bench/torch_reference.py --synthetic 100000 17770 1000000 \
        --lr 1e-3 --epochs 3 --threads 2

See bench/README-torch.md for notes and measured figures.
"""

import argparse
import json
import math
import os
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_argument_group("data")
    src.add_argument("--train", help="tab-separated user item rating [timestamp]")
    src.add_argument("--test", help="same format; scored after training")
    src.add_argument("--synthetic", nargs=3, type=int, metavar=("N_USERS", "N_ITEMS", "N_RATINGS"),
                     help="planted low-rank data instead of files: N_RATINGS training rows "
                          "plus N_RATINGS/10 test rows")
    src.add_argument("--valid-pct", type=float, default=0.1,
                     help="share of the training file held out for validation (default 0.1)")
    tr = ap.add_argument_group("training")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--max-batches", type=int, default=None,
                    help="stop each epoch after this many batches (throughput runs on big data; "
                         "the schedule still spans whole epochs)")
    tr.add_argument("--batch-size", type=int, default=1024)
    tr.add_argument("--lr", type=float, default=None,
                    help="peak learning rate; without it the range test chooses one")
    tr.add_argument("--weight-decay", type=float, default=1e-5)
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--threads", type=int, default=2,
                    help="torch intra-op threads and OpenBLAS threads (default 2)")
    tr.add_argument("--blas-threads", type=int, default=None,
                    help="OpenBLAS threads, when they should differ from --threads")
    tr.add_argument("--emb-dim", type=int, default=100)
    tr.add_argument("--hidden", type=int, default=500)
    tr.add_argument("--emb-std", type=float, default=0.01,
                    help="std of the embeddings' normal init (seed: 0.01)")
    tr.add_argument("--lazy-adam", action="store_true",
                    help="update only the embedding rows a batch touched (cfrec's C optimizer) "
                         "instead of torch.optim.Adam's dense update of the whole tables")
    tr.add_argument("--sweep-iters", type=int, default=100)
    tr.add_argument("--sweep-start", type=float, default=1e-7)
    tr.add_argument("--sweep-end", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print one JSON line of results at the end")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    a = ap.parse_args(argv)
    if a.synthetic is None and (a.train is None or a.test is None):
        ap.error("give --train and --test, or --synthetic N_USERS N_ITEMS N_RATINGS")
    if a.threads < 1:
        ap.error("--threads must be at least 1")
    return a


ARGS = parse_args()
LOAD_START = os.getloadavg()[0]    # other work on the machine skews the speed figures
# Debian's torch calls the system libblas (openblas-pthread), whose thread
# pool torch.set_num_threads does not govern: size it before torch is loaded,
# so that --threads really bounds the cores the GEMMs use.  Two pools on two
# cores fight when torch's OpenMP workers spin-wait between parallel regions
# (measured: 2 + 2 threads ~1.7x slower per batch than 1 + 2), hence a passive
# wait policy unless the caller set one.
ARGS.blas_threads = ARGS.blas_threads or ARGS.threads
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr if ARGS.json else sys.stdout, flush=True)


# ---------------------------------------------------------------- data

def read_ratings(path):
    users, items, ratings = [], [], []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) < 3:
                raise SystemExit(f"{path}:{ln}: expected user item rating [timestamp]")
            users.append(parts[0])
            items.append(parts[1])
            ratings.append(float(parts[2]))
    return users, items, np.asarray(ratings, dtype=np.float32)


def synthetic(n_users, n_items, n_ratings, seed, rank=10):
    """Ratings 1..5 from a planted rank-`rank` model with biases and noise."""
    rng = np.random.default_rng(seed + 7919)
    P = rng.normal(0, 1 / math.sqrt(rank), (n_users, rank)).astype(np.float32)
    Q = rng.normal(0, 1 / math.sqrt(rank), (n_items, rank)).astype(np.float32)
    bu = rng.normal(0, 0.3, n_users).astype(np.float32)
    bi = rng.normal(0, 0.3, n_items).astype(np.float32)
    n_test = n_ratings // 10
    item_order = rng.permutation(n_items)   # which items are popular

    def draw(n):
        u = rng.integers(0, n_users, n, dtype=np.int64)
        # popularity skew on items, as in real data
        i = np.minimum((rng.pareto(1.2, n) * n_items / 20).astype(np.int64), n_items - 1)
        i = item_order[i]
        r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i]) + rng.normal(0, 0.5, n)
        return u, i, np.clip(np.rint(r), 1, 5).astype(np.float32)

    return draw(n_ratings), draw(n_test)


def load_data(a):
    """Dense ids, a train/valid split of the training rows and the test rows."""
    if a.synthetic:
        nu, ni, nr = a.synthetic
        (u, i, r), (tu, ti, tr) = synthetic(nu, ni, nr, a.seed)
        n_users, n_items = nu, ni
        tu_idx, ti_idx = tu, ti
        known = np.ones(len(tu), dtype=bool)
        source = f"synthetic {nu}x{ni}, {nr} ratings"
    else:
        su, si, r = read_ratings(a.train)
        umap, imap = {}, {}
        u = np.fromiter((umap.setdefault(x, len(umap)) for x in su), np.int64, len(su))
        i = np.fromiter((imap.setdefault(x, len(imap)) for x in si), np.int64, len(si))
        n_users, n_items = len(umap), len(imap)
        tsu, tsi, tr = read_ratings(a.test)
        tu_idx = np.fromiter((umap.get(x, -1) for x in tsu), np.int64, len(tsu))
        ti_idx = np.fromiter((imap.get(x, -1) for x in tsi), np.int64, len(tsi))
        known = (tu_idx >= 0) & (ti_idx >= 0)
        source = f"{a.train} / {a.test}"
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(r))
    n_valid = int(round(len(r) * a.valid_pct))
    vidx, tidx = perm[:n_valid], perm[n_valid:]
    return dict(
        source=source, n_users=n_users, n_items=n_items,
        rmin=float(r.min()), rmax=float(r.max()), mean=float(r.mean()),
        train=(torch.from_numpy(u[tidx]), torch.from_numpy(i[tidx]), torch.from_numpy(r[tidx])),
        valid=(torch.from_numpy(u[vidx]), torch.from_numpy(i[vidx]), torch.from_numpy(r[vidx])),
        test=(torch.from_numpy(tu_idx), torch.from_numpy(ti_idx), torch.from_numpy(tr),
              torch.from_numpy(known)),
    )


# ---------------------------------------------------------------- network

class CfNet(nn.Module):
    def __init__(self, n_users, n_items, emb_dim=100, hidden=500, emb_std=0.01, sparse=False):
        super().__init__()
        self.user_emb = nn.Embedding(n_users, emb_dim, sparse=sparse)
        self.item_emb = nn.Embedding(n_items, emb_dim, sparse=sparse)
        nn.init.normal_(self.user_emb.weight, 0.0, emb_std)
        nn.init.normal_(self.item_emb.weight, 0.0, emb_std)
        self.layers = nn.Sequential(
            nn.BatchNorm1d(2 * emb_dim),       # momentum 0.1, eps 1e-5
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(2 * emb_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, users, items):
        x = torch.cat([self.user_emb(users), self.item_emb(items)], dim=1)
        return self.layers(x).squeeze(1)


class LazyAdam:
    """
    Adam for sparse embedding gradients: only the rows in the batch get the
    weight decay and the moment updates; bias correction uses the global step.
    This is cfrec's C optimizer, not torch.optim.Adam.
    """

    def __init__(self, weights, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.weights = weights
        self.b1, self.b2 = betas
        self.eps, self.wd = eps, weight_decay
        self.m = [torch.zeros_like(w) for w in weights]
        self.v = [torch.zeros_like(w) for w in weights]
        self.t = 0

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        for w, m, v in zip(self.weights, self.m, self.v):
            g = w.grad.coalesce()
            rows, gr = g.indices()[0], g.values()
            wr = w.index_select(0, rows)
            gr = gr + self.wd * wr
            mr = m.index_select(0, rows).mul_(self.b1).add_(gr, alpha=1 - self.b1)
            vr = v.index_select(0, rows).mul_(self.b2).addcmul_(gr, gr, value=1 - self.b2)
            m.index_copy_(0, rows, mr)
            v.index_copy_(0, rows, vr)
            denom = (vr.sqrt() / math.sqrt(bc2)).add_(self.eps)
            w.index_copy_(0, rows, wr.addcdiv_(mr, denom, value=-lr / bc1))

    def zero_grad(self):
        for w in self.weights:
            w.grad = None


class Trainer:
    """Model plus optimizer, re-creatable from the seed (for the range test)."""

    def __init__(self, a, data):
        self.a, self.data = a, data
        torch.manual_seed(a.seed)
        self.model = CfNet(data["n_users"], data["n_items"], a.emb_dim, a.hidden,
                           a.emb_std, sparse=a.lazy_adam)
        adam = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
        if a.lazy_adam:
            embs = [self.model.user_emb.weight, self.model.item_emb.weight]
            dense = list(self.model.layers.parameters())
            self.opt = torch.optim.Adam(dense, lr=1e-3, **adam)
            self.lazy = LazyAdam(embs, **adam)
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, **adam)
            self.lazy = None
        # dropout and shuffling draws, separate from the init draws
        torch.manual_seed(a.seed + 1)
        self.shuffle = torch.Generator().manual_seed(a.seed + 2)

    def batches(self):
        """Index tensors of one shuffled epoch; a last batch of 1 is dropped."""
        n = len(self.data["train"][2])
        perm = torch.randperm(n, generator=self.shuffle)
        bs = self.a.batch_size
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            if len(idx) < 2:
                break
            yield idx

    def n_batches(self):
        n, bs = len(self.data["train"][2]), self.a.batch_size
        return n // bs + (1 if n % bs >= 2 else 0)

    def step(self, idx, lr):
        u, i, r = self.data["train"]
        users, items, ratings = u[idx], i[idx], r[idx]
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        if self.lazy:
            self.lazy.zero_grad()
        loss = nn.functional.mse_loss(self.model(users, items), ratings)
        loss.backward()
        self.opt.step()
        if self.lazy:
            self.lazy.step(lr)
        return loss.item()

    @torch.no_grad()
    def predict(self, users, items, bs=8192):
        self.model.eval()
        out = torch.cat([self.model(users[s:s + bs], items[s:s + bs])
                         for s in range(0, len(users), bs)]) if len(users) else torch.zeros(0)
        self.model.train()
        return out.clamp_(self.data["rmin"], self.data["rmax"])

    def rmse(self, split):
        u, i, r = self.data[split][:3]
        if len(r) == 0:
            return float("nan")
        return float(torch.sqrt(torch.mean((self.predict(u, i) - r) ** 2)))


# ---------------------------------------------------------------- schedules

def sweep_lr(i, n, start, end):
    return start * (end / start) ** (i / (n - 1))


def stlr(t, T, eta_max, cut_frac=0.1, ratio=32.0):
    cut = max(1, int(math.floor(T * cut_frac)))
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (T - cut) if T > cut else 0.0
    p = min(1.0, max(0.0, p))
    return eta_max * (1 + p * (ratio - 1)) / ratio


def valley(lrs, losses):
    """fastai's 'valley' rule: the index about half-way along the longest
    decreasing subsequence of the (smoothed) losses, exactly as fastai computes it."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def lr_range_test(a, data):
    """Returns (suggested lr or None, [(lr, loss, smoothed)], seconds)."""
    tr = Trainer(a, data)
    t0 = time.perf_counter()
    n = a.sweep_iters
    beta, avg, best = 0.98, 0.0, math.inf
    points = []
    it = 0
    while it < n:
        for idx in tr.batches():
            lr = sweep_lr(it, n, a.sweep_start, a.sweep_end)
            loss = tr.step(idx, lr)
            avg = beta * avg + (1 - beta) * loss
            smooth = avg / (1 - beta ** (it + 1))
            points.append((lr, loss, smooth))
            it += 1
            if not math.isfinite(smooth) or smooth > 4 * best:
                it = n
                break
            best = min(best, smooth)
            if it >= n:
                break
    secs = time.perf_counter() - t0
    # suggestion: cut at the first non-finite loss, skip the first n/10 and
    # the last 5 points (n = points recorded) when enough are left
    lrs = [p[0] for p in points]
    sm = [p[2] for p in points]
    for k, v in enumerate(sm):
        if not math.isfinite(v):
            lrs, sm = lrs[:k], sm[:k]
            break
    lo, hi = len(points) // 10, len(lrs) - 5
    if hi - lo >= 2:
        lrs, sm = lrs[lo:hi], sm[lo:hi]
    if len(sm) < 2:
        return None, points, secs
    return lrs[valley(lrs, sm)], points, secs


# ---------------------------------------------------------------- main

def main(a):
    torch.set_num_threads(a.threads)
    data = load_data(a)
    n_train, n_valid = len(data["train"][2]), len(data["valid"][2])
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()} "
        f"(OpenBLAS {a.blas_threads}, OMP_WAIT_POLICY {os.environ['OMP_WAIT_POLICY']}), "
        f"data {data['source']}: {data['n_users']} users, {data['n_items']} items, "
        f"{n_train} train / {n_valid} valid / {len(data['test'][2])} test rows"
        f"{', lazy Adam' if a.lazy_adam else ''}")

    suggested, sweep_secs, points = None, 0.0, []
    if a.lr is None:
        suggested, points, sweep_secs = lr_range_test(a, data)
        if suggested is None:
            raise SystemExit("range test: too few finite points for a suggestion")
        log(f"range test: {len(points)} batches in {sweep_secs:.2f}s, "
            f"suggested lr {suggested:.3g}")
        eta_max = suggested
    else:
        eta_max = a.lr

    tr = Trainer(a, data)    # fresh model and optimizer, same seed
    T = a.epochs * tr.n_batches()
    t = 0
    epochs = []
    t_start = time.perf_counter()
    for ep in range(1, a.epochs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        tot, nb, seen = 0.0, 0, 0
        for idx in tr.batches():
            lr = stlr(t, T, eta_max)
            tot += tr.step(idx, lr)
            nb += 1
            seen += len(idx)
            t += 1
            if a.max_batches is not None and nb >= a.max_batches:
                break
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        valid = tr.rmse("valid")
        e = dict(epoch=ep, lr=lr, train_loss=tot / nb, valid_rmse=valid, ratings=seen,
                 seconds=secs, cpu_seconds=cpu, ratings_per_sec=seen / secs)
        epochs.append(e)
        if not a.quiet:
            log(f"epoch {ep:2d}  lr {lr:.3g}  train loss {e['train_loss']:.4f}  "
                f"valid rmse {valid:.4f}  {secs:.2f}s (cpu {cpu:.2f}s)  "
                f"{e['ratings_per_sec']:.0f} ratings/s")
    train_secs = time.perf_counter() - t_start

    tu, ti, trat, known = data["test"]
    pred = torch.full((len(trat),), data["mean"])
    if known.any():
        pred[known] = tr.predict(tu[known], ti[known])
    test_rmse = float(torch.sqrt(torch.mean((pred - trat) ** 2))) if len(trat) else float("nan")
    n_unknown = int((~known).sum())
    later = epochs[1:] if len(epochs) > 1 else epochs
    thr = sum(e["ratings"] for e in later) / sum(e["seconds"] for e in later)
    cpu_util = sum(e["cpu_seconds"] for e in later) / sum(e["seconds"] for e in later)

    log(f"test rmse {test_rmse:.4f} ({len(trat)} rows, {n_unknown} unseen user/item -> mean "
        f"{data['mean']:.3f})")
    log(f"lr {eta_max:.3g}{' (suggested)' if suggested else ' (given)'}, range test "
        f"{sweep_secs:.2f}s, training {train_secs:.2f}s, "
        f"{thr:.0f} ratings/s after epoch 1 (cpu/wall {cpu_util:.2f}), threads {a.threads}, "
        f"load average at exit {os.getloadavg()[0]:.2f}")
    if a.json:
        print(json.dumps(dict(
            torch=torch.__version__, threads=a.threads, blas_threads=a.blas_threads,
            omp_wait_policy=os.environ["OMP_WAIT_POLICY"], seed=a.seed, source=data["source"],
            n_users=data["n_users"], n_items=data["n_items"], n_train=n_train,
            n_valid=n_valid, n_test=len(trat), n_test_unseen=n_unknown,
            lazy_adam=a.lazy_adam, emb_std=a.emb_std, epochs=a.epochs,
            batch_size=a.batch_size, lr=eta_max, suggested_lr=suggested,
            sweep_batches=len(points), sweep_seconds=sweep_secs, train_seconds=train_secs,
            test_rmse=test_rmse, valid_rmse=epochs[-1]["valid_rmse"],
            ratings_per_sec_after_first=thr, cpu_per_wall_after_first=cpu_util,
            loadavg_start=LOAD_START, loadavg_end=os.getloadavg()[0], epoch_stats=epochs)))


if __name__ == "__main__":
    main(ARGS)
