"""KID and precision/recall goldens for tests/unit/test_eval.c, computed in
numpy directly from the definitions (docs/eval.md), independent of
pixeldit's blocked route:

  KID: unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, diagonals left out of
       the within-set sums (as torchmetrics / clean-fid's kid with one subset);
  precision/recall: Kynkaanniemi et al. 2019, k-th nearest neighbour radii
       within each set (the point itself excluded), a point counts when it
       lies in any ball of the other set (distance <= radius).

kid_pr/kid_pr_goldens.safetensors holds, per case <c>: <c>.x (n, d) and
<c>.y (m, d) F32 features and <c>.kid, <c>.precision, <c>.recall () F64 with
k = <c>.k (I32, shape ()). Run: /usr/bin/python3 tests/golden/make_kid_pr_goldens.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import write_safetensors  # noqa: E402


def kid(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    n, m = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def radii(a, k):
    d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def coverage(q, p, rp):
    d = ((q[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    return float((d <= rp[None, :]).any(axis=1).mean())


def precision_recall(real, fake, k):
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    return coverage(fake, real, radii(real, k)), coverage(real, fake, radii(fake, k))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kid_pr', 'kid_pr_goldens.safetensors')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    rng = np.random.default_rng(24)
    cases = [('d8', 8, 30, 40, 0.3, 3), ('d32', 32, 60, 50, 0.8, 3), ('d16k5', 16, 45, 45, 0.0, 5)]
    tensors = []
    for name, d, n, m, shift, k in cases:
        x = (rng.standard_normal((n, d)) * 1.2 + shift).astype(np.float32)
        y = rng.standard_normal((m, d)).astype(np.float32)
        p, r = precision_recall(y, x, k)  # real = y, generated = x
        tensors += [(name + '.x', x), (name + '.y', y), (name + '.kid', np.array(kid(x, y))),
                    (name + '.precision', np.array(p)), (name + '.recall', np.array(r)),
                    (name + '.k', np.array(k, dtype=np.int32))]
        print(name, kid(x, y), p, r)
    write_safetensors(out, tensors, {'made_by': 'tests/golden/make_kid_pr_goldens.py'})


if __name__ == '__main__':
    main()
