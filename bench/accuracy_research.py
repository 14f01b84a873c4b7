#!/usr/bin/python3
"""
accuracy_research.py: reproduces the MovieLens-100K accuracy study behind
cfrec's training recipe (baseline, seed network, the improved recipe, I-AutoRec
and their blend) on the canonical u1..u5 splits.

Protocol: for each fold, 10% of uN.base (numpy default_rng(42) permutation) is
held out as the validation split; every choice (lambda, epoch, blend weight)
is made on it, uN.test is only scored.  "refit" columns retrain on the whole
uN.base with the settings chosen on validation (same epoch count) and score
uN.test again.  Test pairs whose user or item is not in uN.base are predicted
as the training mean.  Predictions are clipped to [min, max] of the ratings.

Models (forward passes; B = batch, sigma = logistic):

  baseline  r^ = mu + b_u + b_i, b fit by 10 alternating damped sweeps
            b_i = sum_u (r - mu - b_u) / (lam_i + n_i), then b_u likewise
  seed      x0 = [U_u, V_i] (E=100, N(0, .01^2))
            x1 = drop(relu(BN(x0)), .1); x2 = drop(relu(BN(W1 x1 + c1)), .2)
            r^ = w2 . x2 + c2;  Adam + L2 1e-5, batch 1024, 10 epochs,
            range test (fastai valley) + slanted triangular LR
  mf++      (the improved recipe; the MLP branch is off: it did not help)
            p~_u = P_u + |N(u)|^-1/2 sum_{j in N(u)} Y_j   (N(u): the user's training items)
            z    = g + b_u + b_i + drop(p~_u, .1) . drop(Q_i, .1)      (Ed = 32)
            r^   = 0.5 + 5 sigma(z)          (g initialised to logit((mean - .5) / 5))
            loss = mean_B (r^ - r)^2 + .05 mean_B (|P_u|^2 + |Q_i|^2)
                                     + .01 mean_B (b_u^2 + b_i^2)
            Adam (.9, .999, 1e-8), lazy rows for P Q b_u b_i (plus the seed's
            Adam-L2 1e-5 on touched rows and on g); Y dense (every row, every
            step) with decoupled decay 1.0 (Y *= 1 - lr*1.0); P Q ~ N(0, .01^2),
            Y = b = 0, g = training mean; batch 256; STLR peak 3e-3 over 10
            epochs; keep the best validation epoch
  autorec   item-based I-AutoRec: for item i, x = its column of ratings over
            users (0 where missing); o = W2 sigma(W1 x + c1) + c2 (H=500);
            loss per batch of 64 items = [sum_observed (o - x)^2
            + 200/2 (|W1|^2 + |W2|^2) * 64 / n_items] / 64; Adam lr 3e-3
            decayed linearly to 0 over 150 epochs; the last epoch is kept
  blend     r^ = w * mf++ + (1 - w) * autorec, one w for all folds chosen on
            the pooled validation splits (grid step .05)

Run with Debian's python (torch from python3-torch):

    /usr/bin/python3 bench/accuracy_research.py                 # final table, ~10 min on 2 cores
    /usr/bin/python3 bench/accuracy_research.py --ablation      # lever ladder too (~20 min more)
    /usr/bin/python3 bench/accuracy_research.py --folds 1 --models baseline,mfpp
"""

import argparse
import json
import math
import os
import sys
import time

DATA_DEFAULT = "/work/shared/data/ml-100k"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DATA_DEFAULT, help="folder holding u1.base .. u5.test")
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--models", default="baseline,seed,mfpp,autorec",
                    help="comma list of baseline, seed, mfpp, autorec (blend needs mfpp and autorec)")
    ap.add_argument("--ablation", action="store_true", help="also run the lever ladder")
    ap.add_argument("--no-refit", action="store_true", help="skip the refits on the whole uN.base")
    ap.add_argument("--jobs", type=int, default=2, help="processes (each uses one thread)")
    ap.add_argument("--valid-pct", type=float, default=0.1)
    ap.add_argument("--split-seed", type=int, default=42)
    ap.add_argument("--json", help="write all results to this file")
    return ap.parse_args()


# one thread per worker process; set before torch is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

# ---------------------------------------------------------------- data

_CACHE = {}


def load_fold(data_dir, fold, valid_pct=0.1, seed=42):
    key = (data_dir, fold, valid_pct, seed)
    if key in _CACHE:
        return _CACHE[key]
    b = np.loadtxt(f"{data_dir}/u{fold}.base", dtype=np.int64)
    t = np.loadtxt(f"{data_dir}/u{fold}.test", dtype=np.int64)
    umap, imap = {}, {}
    u = np.array([umap.setdefault(x, len(umap)) for x in b[:, 0]])
    i = np.array([imap.setdefault(x, len(imap)) for x in b[:, 1]])
    r = b[:, 2].astype(np.float32)
    tu = np.array([umap.get(x, -1) for x in t[:, 0]])
    ti = np.array([imap.get(x, -1) for x in t[:, 1]])
    perm = np.random.default_rng(seed).permutation(len(r))
    nv = int(round(len(r) * valid_pct))
    vi, tri = perm[:nv], perm[nv:]

    def T(*a):
        return tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in a)

    d = dict(nu=len(umap), ni=len(imap), rmin=float(r.min()), rmax=float(r.max()),
             train=T(u[tri], i[tri], r[tri]), valid=T(u[vi], i[vi], r[vi]), full=T(u, i, r),
             test=T(tu, ti, t[:, 2].astype(np.float32)),
             known=torch.from_numpy((tu >= 0) & (ti >= 0)))
    _CACHE[key] = d
    return d


def rmse(p, r):
    p, r = np.asarray(p, dtype=np.float64), np.asarray(r, dtype=np.float64)
    return float(np.sqrt(np.mean((p - r) ** 2)))


def test_predictions(d, predict, mean):
    """predict(u, i) on the test pairs; unseen users/items get the training mean."""
    tu, ti, _ = d["test"]
    k = d["known"]
    p = torch.full((len(tu),), float(mean))
    p[k] = predict(tu[k], ti[k])
    return p.numpy()


# ---------------------------------------------------------------- baseline

def als_bias(u, i, r, nu, ni, lam_u, lam_i, sweeps=10):
    mu = r.mean()
    bu, bi = np.zeros(nu), np.zeros(ni)
    for _ in range(sweeps):
        bi = np.bincount(i, r - mu - bu[u], ni) / np.maximum(lam_i + np.bincount(i, None, ni), 1e-12)
        bu = np.bincount(u, r - mu - bi[i], nu) / np.maximum(lam_u + np.bincount(u, None, nu), 1e-12)
    return mu, bu, bi


LAMBDAS = [0, 1, 2, 3, 5, 8, 10, 15, 20, 25, 30, 40]


def baseline_task(a, fold, lams=None):
    """Valid RMSE for every (lam_u, lam_i) on the grid, or, given lams, the test RMSEs."""
    d = load_fold(a.data, fold, a.valid_pct, a.split_seed)
    t0 = time.perf_counter()

    def fit(split, lu, li):
        u, i, r = (x.numpy() for x in d[split])
        return als_bias(u, i, r.astype(np.float64), d["nu"], d["ni"], lu, li)

    def pred(m, uu, ii):
        mu, bu, bi = m
        return np.clip(mu + bu[uu] + bi[ii], d["rmin"], d["rmax"])

    if lams is None:
        vu, vi, vr = (x.numpy() for x in d["valid"])
        return {(lu, li): rmse(pred(fit("train", lu, li), vu, vi), vr) for lu in LAMBDAS for li in LAMBDAS}
    lu, li = lams
    out = {}
    tr = d["test"][2].numpy()
    for split, name in (("train", "test"), ("full", "test_refit")):
        m = fit(split, lu, li)
        vu, vi, vr = (x.numpy() for x in d["valid"])
        if split == "train":
            out["valid"] = rmse(pred(m, vu, vi), vr)
        out[name] = rmse(test_predictions(d, lambda a_, b_: torch.from_numpy(pred(m, a_.numpy(), b_.numpy())).float(), m[0]), tr)
    out["secs"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------- the network family

class Net(nn.Module):
    """Seed MLP and/or dot branch with biases; every lever is a config switch."""

    def __init__(self, nu, ni, c, mean, train_ui):
        super().__init__()
        self.c = c
        E, H = c["E"], c["H"]
        if c["mlp"]:
            self.U = nn.Parameter(torch.randn(nu, E) * c["emb_std"])
            self.V = nn.Parameter(torch.randn(ni, E) * c["emb_std"])
            self.bn1 = nn.BatchNorm1d(2 * E)          # momentum .1, eps 1e-5, gamma 1 beta 0
            self.l1 = nn.Linear(2 * E, H)             # torch default: U(+-1/sqrt(fan_in))
            self.bn2 = nn.BatchNorm1d(H)
            self.l2 = nn.Linear(H, 1)
        if c["dot"] and c["sep_dot"]:
            Ed = c["Ed"]
            self.P = nn.Parameter(torch.randn(nu, Ed) * c["dot_std"])
            self.Q = nn.Parameter(torch.randn(ni, Ed) * c["dot_std"])
            if c["svdpp"]:
                self.Y = nn.Parameter(torch.zeros(ni, Ed))
                u, i = train_ui
                N = torch.zeros(nu, ni)
                N[u, i] = 1.0
                self.register_buffer("N", N / N.sum(1, keepdim=True).clamp(min=1) ** 0.5)
        if c["bias"]:
            self.bu = nn.Parameter(torch.zeros(nu))
            self.bi = nn.Parameter(torch.zeros(ni))
            if c["yr"]:
                lo, hi = c["yr"]
                g0 = math.log((mean - lo) / (hi - mean))   # sigma(g0) maps to the mean
            else:
                g0 = mean
            self.g = nn.Parameter(torch.tensor(float(g0)))

    def forward(self, u, i):
        c, z = self.c, 0.0
        if c["mlp"]:
            eu, ev = self.U[u], self.V[i]
            x = torch.cat([eu, ev], 1)
            x = nn.functional.dropout(torch.relu(self.bn1(x)), c["d1"], self.training)
            x = nn.functional.dropout(torch.relu(self.bn2(self.l1(x))), c["d2"], self.training)
            z = self.l2(x).squeeze(1)
        if c["dot"]:
            if c["sep_dot"]:
                pu, qi = self.P[u], self.Q[i]
                if c["svdpp"]:
                    pu = pu + self.N[u] @ self.Y
                if c["dot_drop"] > 0 and self.training:
                    pu = nn.functional.dropout(pu, c["dot_drop"])
                    qi = nn.functional.dropout(qi, c["dot_drop"])
            else:
                pu, qi = self.U[u], self.V[i]
            z = z + (pu * qi).sum(1)
        if c["bias"]:
            z = z + self.bu[u] + self.bi[i] + self.g
            if c["yr"]:
                lo, hi = c["yr"]
                z = lo + (hi - lo) * torch.sigmoid(z)
        return z

    def reg_loss(self, u, i):
        """L2 in the loss, once per rating in the batch (classic SGD-MF regularisation)."""
        c, t = self.c, 0.0
        if c["reg_emb"] and c["mlp"]:
            t = t + c["reg_emb"] * ((self.U[u] ** 2).sum(1) + (self.V[i] ** 2).sum(1)).mean()
        if c["reg_dot"] and c["dot"] and c["sep_dot"]:
            t = t + c["reg_dot"] * ((self.P[u] ** 2).sum(1) + (self.Q[i] ** 2).sum(1)).mean()
        if c["reg_bias"] and c["bias"]:
            t = t + c["reg_bias"] * (self.bu[u] ** 2 + self.bi[i] ** 2).mean()
        return t


class Adam:
    """
    Adam with parameter groups.  Tables (sparse=True) are updated lazily: only
    the rows in the batch get moment updates, L2 and the step (bias correction
    uses the global step), as cfrec's C optimizer does.  wd modes: 'l2' adds
    wd*w to the gradient; 'dec' is decoupled (w *= 1 - lr*wd), on touched rows
    for tables and on everything for dense groups; 'dec_all' decays every row
    of a table every step.
    """

    def __init__(self, groups, b1=0.9, b2=0.999, eps=1e-8):
        self.groups, self.b1, self.b2, self.eps, self.t = groups, b1, b2, eps, 0
        for g in groups:
            g["m"] = [torch.zeros_like(p) for p in g["params"]]
            g["v"] = [torch.zeros_like(p) for p in g["params"]]

    @torch.no_grad()
    def step(self, lr, rows):
        self.t += 1
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for g in self.groups:
            wd, mode = g["wd"], g["mode"]
            for k, p in enumerate(g["params"]):
                if p.grad is None:
                    continue
                m, v = g["m"][k], g["v"][k]
                if g["sparse"]:
                    ix = rows[g["which"][k]]
                    w, gr = p.index_select(0, ix), p.grad.index_select(0, ix)
                    if mode == "l2" and wd:
                        gr = gr + wd * w
                    mr = m.index_select(0, ix).mul_(self.b1).add_(gr, alpha=1 - self.b1)
                    vr = v.index_select(0, ix).mul_(self.b2).addcmul_(gr, gr, value=1 - self.b2)
                    m.index_copy_(0, ix, mr)
                    v.index_copy_(0, ix, vr)
                    if mode == "dec" and wd:
                        w.mul_(1 - lr * wd)
                    w.addcdiv_(mr, (vr.sqrt() / math.sqrt(bc2)).add_(self.eps), value=-lr / bc1)
                    p.index_copy_(0, ix, w)
                    if mode == "dec_all" and wd:
                        p.mul_(1 - lr * wd)     # every row, every step
                else:
                    gr = p.grad
                    if mode == "l2" and wd:
                        gr = gr + wd * p
                    m.mul_(self.b1).add_(gr, alpha=1 - self.b1)
                    v.mul_(self.b2).addcmul_(gr, gr, value=1 - self.b2)
                    if mode == "dec" and wd:
                        p.mul_(1 - lr * wd)
                    p.addcdiv_(m, (v.sqrt() / math.sqrt(bc2)).add_(self.eps), value=-lr / bc1)


def stlr(t, T, eta, cut_frac=0.1, ratio=32.0):
    cut = max(1, int(math.floor(T * cut_frac)))
    p = t / cut if t < cut else (1 - (t - cut) / (T - cut) if T > cut else 0.0)
    p = min(1.0, max(0.0, p))
    return eta * (1 + p * (ratio - 1)) / ratio


def valley(losses):
    n, max_start, max_end, lds = len(losses), 0, 0, [1] * len(losses)
    for i in range(1, n):
        for j in range(0, i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sec = (max_end - max_start) / 3
    return max_start + int(sec) + int(sec / 2)


NET_DEFAULT = dict(E=100, H=500, d1=0.1, d2=0.2, emb_std=0.01, mlp=True, dot=False, sep_dot=False,
                   Ed=64, dot_std=0.01, svdpp=False, dot_drop=0.0, bias=False, yr=None,
                   B=1024, epochs=10, lr=None, wd=1e-5, wd_mode="l2",
                   wd_emb=None, emb_mode=None, wd_bias=None, bias_mode=None, wd_y=0.0,
                   reg_emb=0.0, reg_dot=0.0, reg_bias=0.0, seed=42, sweep_iters=100)


class Run:
    def __init__(self, c, d, train):
        self.c, self.d, self.train = c, d, train
        torch.manual_seed(c["seed"])
        self.net = Net(d["nu"], d["ni"], c, float(train[2].mean()), train[:2])
        emb, embw, bias, biasw, dense, ys = [], [], [], [], [], []
        for name, p in self.net.named_parameters():
            if name in ("U", "P"):
                emb.append(p); embw.append(0)
            elif name in ("V", "Q"):
                emb.append(p); embw.append(1)
            elif name == "bu":
                bias.append(p); biasw.append(0)
            elif name == "bi":
                bias.append(p); biasw.append(1)
            elif name == "Y":
                ys.append(p)
            else:
                dense.append(p)
        we = c["wd"] if c["wd_emb"] is None else c["wd_emb"]
        me = c["emb_mode"] or c["wd_mode"]
        groups = [dict(params=emb, which=embw, sparse=True, wd=we, mode=me),
                  dict(params=dense, sparse=False, wd=c["wd"], mode=c["wd_mode"])]
        if bias:
            groups.append(dict(params=bias, which=biasw, sparse=True,
                               wd=we if c["wd_bias"] is None else c["wd_bias"],
                               mode=c["bias_mode"] or me))
        if ys:
            groups.append(dict(params=ys, sparse=False, wd=c["wd_y"], mode="dec"))
        self.opt = Adam(groups)
        torch.manual_seed(c["seed"] + 1)                       # dropout draws
        self.gen = torch.Generator().manual_seed(c["seed"] + 2)  # shuffling

    def batches(self):
        n, B = len(self.train[2]), self.c["B"]
        perm = torch.randperm(n, generator=self.gen)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            if len(idx) < 2:       # BatchNorm needs two rows
                break
            yield idx

    def n_batches(self):
        n, B = len(self.train[2]), self.c["B"]
        return n // B + (1 if n % B >= 2 else 0)

    def step(self, idx, lr):
        u, i, r = (x[idx] for x in self.train)
        for p in self.net.parameters():
            p.grad = None
        loss = nn.functional.mse_loss(self.net(u, i), r)
        (loss + self.net.reg_loss(u, i)).backward()
        self.opt.step(lr, (torch.unique(u), torch.unique(i)))
        return loss.item()

    @torch.no_grad()
    def predict(self, u, i):
        self.net.eval()
        out = self.net(u, i)
        self.net.train()
        return out.clamp(self.d["rmin"], self.d["rmax"])


def range_test(c, d, train):
    R, n = Run(c, d, train), c["sweep_iters"]
    beta, avg, best, pts, it = 0.98, 0.0, math.inf, [], 0
    while it < n:
        for idx in R.batches():
            lr = 1e-7 * (10 / 1e-7) ** (it / (n - 1))
            loss = R.step(idx, lr)
            avg = beta * avg + (1 - beta) * loss
            sm = avg / (1 - beta ** (it + 1))
            pts.append((lr, sm))
            it += 1
            if not math.isfinite(sm) or sm > 4 * best:
                it = n
                break
            best = min(best, sm)
            if it >= n:
                break
    lrs, sm = [p[0] for p in pts], [p[1] for p in pts]
    for k, v in enumerate(sm):
        if not math.isfinite(v):
            lrs, sm = lrs[:k], sm[:k]
            break
    lo, hi = len(pts) // 10, len(lrs) - 5
    if hi - lo >= 2:
        lrs, sm = lrs[lo:hi], sm[lo:hi]
    return lrs[valley(sm)]


def net_task(a, fold, cfg, refit=True):
    c = {**NET_DEFAULT, **cfg}
    d = load_fold(a.data, fold, a.valid_pct, a.split_seed)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    eta = c["lr"] if c["lr"] else range_test(c, d, d["train"])
    R = Run(c, d, d["train"])
    T, t, hist = c["epochs"] * R.n_batches(), 0, []
    mean = float(d["train"][2].mean())
    best = dict(valid=math.inf)
    vu, vi, vr = d["valid"]
    for ep in range(1, c["epochs"] + 1):
        for idx in R.batches():
            R.step(idx, stlr(t, T, eta))
            t += 1
        pv = R.predict(vu, vi).numpy()
        pt = test_predictions(d, R.predict, mean)
        v, te = rmse(pv, vr.numpy()), rmse(pt, d["test"][2].numpy())
        hist.append((round(v, 5), round(te, 5)))
        if v < best["valid"]:
            best = dict(valid=v, test=te, ep=ep, pv=pv, pt=pt)
    out = dict(lr=eta, hist=hist, valid=best["valid"], test=best["test"], ep=best["ep"],
               valid_last=hist[-1][0], test_last=hist[-1][1], pv=best["pv"], pt=best["pt"],
               secs=time.perf_counter() - t0)
    if refit:
        # whole uN.base, same schedule, stopped after the epoch chosen on validation
        t1 = time.perf_counter()
        R2 = Run({**c}, d, d["full"])
        T2, t = c["epochs"] * R2.n_batches(), 0
        for ep in range(1, best["ep"] + 1):
            for idx in R2.batches():
                R2.step(idx, stlr(t, T2, eta))
                t += 1
        out["pt_refit"] = test_predictions(d, R2.predict, float(d["full"][2].mean()))
        out["test_refit"] = rmse(out["pt_refit"], d["test"][2].numpy())
        out["secs_refit"] = time.perf_counter() - t1
    return out


# ---------------------------------------------------------------- I-AutoRec

AUTOREC = dict(H=500, lam=200.0, lr=3e-3, epochs=int(os.environ.get("AR_EPOCHS", 150)), B=64, seed=0)


def autorec_fit(d, train, c):
    torch.manual_seed(c["seed"])
    u, i, r = train
    nu, ni = d["nu"], d["ni"]
    R = torch.zeros(ni, nu)
    M = torch.zeros(ni, nu)
    R[i, u] = r
    M[i, u] = 1
    enc, dec = nn.Linear(nu, c["H"]), nn.Linear(c["H"], nu)   # torch default init
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=c["lr"])
    for ep in range(c["epochs"]):
        for g in opt.param_groups:
            g["lr"] = c["lr"] * (1 - ep / c["epochs"])
        perm = torch.randperm(ni)
        for s in range(0, ni, c["B"]):
            ix = perm[s:s + c["B"]]
            x, m = R[ix], M[ix]
            o = dec(torch.sigmoid(enc(x)))
            loss = (((o - x) * m) ** 2).sum() \
                + c["lam"] / 2 * (enc.weight.pow(2).sum() + dec.weight.pow(2).sum()) * len(ix) / ni
            opt.zero_grad()
            (loss / len(ix)).backward()
            opt.step()
    with torch.no_grad():
        P = dec(torch.sigmoid(enc(R)))      # items x users
    return lambda uu, ii: P[ii, uu].clamp(d["rmin"], d["rmax"])


def autorec_task(a, fold, refit=True):
    torch.set_num_threads(1)
    d = load_fold(a.data, fold, a.valid_pct, a.split_seed)
    t0 = time.perf_counter()
    pred = autorec_fit(d, d["train"], AUTOREC)
    secs = time.perf_counter() - t0
    vu, vi, vr = d["valid"]
    pv = pred(vu, vi).numpy()
    pt = test_predictions(d, pred, float(d["train"][2].mean()))
    out = dict(valid=rmse(pv, vr.numpy()), test=rmse(pt, d["test"][2].numpy()), pv=pv, pt=pt,
               ep=AUTOREC["epochs"], secs=secs)
    if refit:
        t1 = time.perf_counter()
        pred2 = autorec_fit(d, d["full"], AUTOREC)
        out["pt_refit"] = test_predictions(d, pred2, float(d["full"][2].mean()))
        out["test_refit"] = rmse(out["pt_refit"], d["test"][2].numpy())
        out["secs_refit"] = time.perf_counter() - t1
    return out


# ---------------------------------------------------------------- recipes and the ladder

SEED = dict()                                   # NET_DEFAULT is the seed
MFPP = dict(mlp=False, dot=True, sep_dot=True, Ed=32, dot_std=0.01, svdpp=True, wd_y=1.0,
            dot_drop=0.1, bias=True, yr=[0.5, 5.5], reg_dot=0.05, reg_bias=0.01, B=256, lr=3e-3, epochs=10)

# cumulative ladder from the seed (each row adds one lever to the row above),
# then removals / alternatives around the final recipe
_S2 = dict(bias=True, yr=[0.5, 5.5])
_S4 = dict(_S2, dot=True, sep_dot=True, Ed=64)
_S5 = dict(_S4, reg_emb=0.05, reg_dot=0.07, reg_bias=0.01)
_S6 = dict(_S5, B=256, lr=3e-3)
_S7 = dict(_S6, yr=None)
_S8 = dict(_S7, mlp=False)
_S9 = dict(_S8, svdpp=True, wd_y=1.0)
_S10 = dict(_S9, dot_drop=0.1)
LADDER = [
    ("seed (E100 H500, range test, B1024, best epoch)", SEED),
    ("+ biases b_u b_i g (g = mean)", dict(bias=True)),
    ("+ sigmoid y_range (0.5, 5.5)", _S2),
    ("+ dot branch sharing the MLP embeddings", dict(_S2, dot=True)),
    ("+ dot branch with its own P, Q (Ed 64) instead", _S4),
    ("  (side: that + batch 256, lr 3e-3, no L2-in-loss)", dict(_S4, B=256, lr=3e-3)),
    ("+ L2-in-loss: .05 U V, .07 P Q, .01 biases", _S5),
    ("+ batch 256, fixed peak lr 3e-3", _S6),
    ("- y_range", _S7),
    ("- MLP branch (biased MF)", _S8),
    ("+ SVD++ implicit term", _S9),
    ("+ dropout .1 on p~_u and Q_i", _S10),
    ("+ Ed 32, L2 .05 on P Q", dict(_S10, Ed=32, reg_dot=0.05)),
    ("+ sigmoid y_range (0.5, 5.5) again  (= mf++, final)", MFPP),
    ("mf++ without SVD++", dict(MFPP, svdpp=False)),
    ("mf++ without the dropout", dict(MFPP, dot_drop=0.0)),
    ("mf++ with the MLP branch back (E64 H128, L2 .05 on U V)", dict(MFPP, mlp=True, E=64, H=128, reg_emb=0.05)),
    ("mf++ with range-test lr instead of 3e-3", dict(MFPP, lr=None)),
    ("mf++ with Ed 16", dict(MFPP, Ed=16)),
    ("mf++ with Ed 64", dict(MFPP, Ed=64)),
    ("mf++ with 15 epochs", dict(MFPP, epochs=15)),
    ("biased MF, decoupled wd .3 on P Q (all rows each step) instead of L2-in-loss",
     dict(_S8, reg_dot=0.0, wd_emb=0.3, emb_mode="dec_all", wd_bias=0.0, bias_mode="l2")),
    ("biased MF, decoupled wd 1.0 on touched rows of P Q instead of L2-in-loss",
     dict(_S8, reg_dot=0.0, wd_emb=1.0, emb_mode="dec", wd_bias=0.0, bias_mode="l2")),
    ("biased MF, Adam-L2 .01 on touched rows of P Q (torch weight_decay style)",
     dict(_S8, reg_dot=0.0, wd_emb=0.01, emb_mode="l2", wd_bias=0.0, bias_mode="l2")),
]


# ---------------------------------------------------------------- driver

def _worker(job):
    a, kind, fold, arg = job
    if kind == "baseline_grid":
        return baseline_task(a, fold)
    if kind == "baseline":
        return baseline_task(a, fold, arg)
    if kind == "autorec":
        return autorec_task(a, fold, refit=not a.no_refit)
    if kind == "net":
        cfg, refit = arg
        return net_task(a, fold, cfg, refit=refit and not a.no_refit)
    raise ValueError(kind)


def run_jobs(a, jobs):
    jobs = [(a,) + j for j in jobs]
    if a.jobs <= 1:
        return [_worker(j) for j in jobs]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(a.jobs) as pool:
        return pool.map(_worker, jobs, chunksize=1)


def fmt(x):
    return "—" if x is None else f"{x:.4f}"


def main():
    a = parse_args()
    folds = [int(f) for f in a.folds.split(",")]
    models = a.models.split(",")
    results, T0 = {}, time.perf_counter()
    print(f"torch {torch.__version__}, {a.jobs} processes x 1 thread, folds {folds}", flush=True)

    if "baseline" in models:
        grids = run_jobs(a, [("baseline_grid", f, None) for f in folds])
        keys = list(grids[0])
        lam = min(keys, key=lambda k: np.mean([g[k] for g in grids]))
        res = run_jobs(a, [("baseline", f, lam) for f in folds])
        results["baseline"] = dict(lam=lam, folds=dict(zip(folds, res)))
        print(f"baseline: lambda_u, lambda_i = {lam} (mean valid)", flush=True)

    jobs, tags = [], []
    if "seed" in models:
        jobs += [("net", f, (SEED, False)) for f in folds]
        tags += [("seed", f) for f in folds]
    if "mfpp" in models:
        jobs += [("net", f, (MFPP, True)) for f in folds]
        tags += [("mfpp", f) for f in folds]
    if "autorec" in models:
        jobs += [("autorec", f, None) for f in folds]
        tags += [("autorec", f) for f in folds]
    for (m, f), r in zip(tags, run_jobs(a, jobs)):
        results.setdefault(m, dict(folds={}))["folds"][f] = r

    if "mfpp" in results and "autorec" in results:
        A, B = results["mfpp"]["folds"], results["autorec"]["folds"]
        vr = {f: load_fold(a.data, f, a.valid_pct, a.split_seed)["valid"][2].numpy() for f in folds}
        tr = {f: load_fold(a.data, f, a.valid_pct, a.split_seed)["test"][2].numpy() for f in folds}

        def score(w, f, key, split):
            p = np.clip(w * A[f][key] + (1 - w) * B[f][key], 1, 5)
            return rmse(p, (vr if split == "valid" else tr)[f])

        ws = np.round(np.arange(0, 1.0001, 0.05), 2)
        w = float(min(ws, key=lambda w: np.mean([score(w, f, "pv", "valid") for f in folds])))
        bl = {}
        for f in folds:
            bl[f] = dict(valid=score(w, f, "pv", "valid"), test=score(w, f, "pt", "test"),
                         secs=A[f]["secs"] + B[f]["secs"])
            if "pt_refit" in A[f] and "pt_refit" in B[f]:
                bl[f]["test_refit"] = score(w, f, "pt_refit", "test")
                bl[f]["secs_refit"] = A[f]["secs_refit"] + B[f]["secs_refit"]
        results["blend"] = dict(w=w, folds=bl)
        print(f"blend: w(mf++) = {w} (mean valid)", flush=True)

    # ---- the table
    names = dict(baseline="baseline (mu + damped biases)", seed="seed network",
                 mfpp="mf++ (best seed-family recipe)", autorec="I-AutoRec", blend="blend mf++/I-AutoRec")
    print("\n## Test RMSE per fold (model selected on the 10% validation split of uN.base)\n")
    print("| model | " + " | ".join(f"u{f}" for f in folds) + " | mean | mean valid | s/fold |")
    print("|---|" + "---|" * (len(folds) + 3))
    for m in ("baseline", "seed", "mfpp", "autorec", "blend"):
        if m not in results:
            continue
        F = results[m]["folds"]
        rows = [(names[m], "test")]
        if m == "seed":
            rows = [("seed network, last epoch (as specified)", "test_last"),
                    ("seed network, best valid epoch", "test")]
        if any("test_refit" in F[f] for f in folds):
            rows.append((names[m] + ", refit on all of uN.base", "test_refit"))
        for label, key in rows:
            vals = [F[f].get(key) for f in folds]
            vkey = "valid_last" if key == "test_last" else "valid"
            mv = np.mean([F[f][vkey] for f in folds])
            secs = np.mean([F[f].get("secs_refit" if key == "test_refit" else "secs", 0) for f in folds])
            print(f"| {label} | " + " | ".join(fmt(v) for v in vals)
                  + f" | **{np.mean(vals):.4f}** | {mv:.4f} | {secs:.0f} |")
    for m in ("mfpp", "seed"):
        if m in results:
            print(f"\n{m}: chosen epochs " + ", ".join(f"u{f} {results[m]['folds'][f]['ep']}" for f in folds)
                  + "; peak lr " + ", ".join(f"{results[m]['folds'][f]['lr']:.3g}" for f in folds))

    if a.ablation:
        jobs = [("net", f, (cfg, False)) for _, cfg in LADDER for f in folds]
        res = run_jobs(a, jobs)
        print("\n## Ablation (means over folds; best validation epoch)\n")
        print("| lever | mean valid | mean test | u1 test | s/fold |")
        print("|---|---|---|---|---|")
        abl = []
        for k, (label, cfg) in enumerate(LADDER):
            rs = res[k * len(folds):(k + 1) * len(folds)]
            row = dict(label=label, cfg=cfg, valid=float(np.mean([r["valid"] for r in rs])),
                       test=float(np.mean([r["test"] for r in rs])),
                       u1=rs[folds.index(1)]["test"] if 1 in folds else None,
                       secs=float(np.mean([r["secs"] for r in rs])))
            abl.append(row)
            print(f"| {label} | {row['valid']:.4f} | {row['test']:.4f} | {fmt(row['u1'])} | {row['secs']:.0f} |")
        results["ablation"] = abl

    print(f"\ntotal {time.perf_counter() - T0:.0f}s")
    if a.json:
        def clean(o):
            if isinstance(o, dict):
                return {str(k): clean(v) for k, v in o.items() if k not in ("pv", "pt", "pt_refit")}
            if isinstance(o, (list, tuple)):
                return [clean(v) for v in o]
            if isinstance(o, (np.floating, np.integer)):
                return o.item()
            return o
        with open(a.json, "w") as fo:
            json.dump(clean(results), fo, indent=1)


if __name__ == "__main__":
    main()
