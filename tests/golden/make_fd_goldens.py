"""Frechet-distance goldens for tests/unit/test_eval.c (scipy, independent of
pixeldit's eigen-decomposition route).

fd/fd_goldens.safetensors holds, per case <c>: <c>.a (n1, d) and <c>.b (n2, d)
F32 feature sets and <c>.fd () F64, computed as pytorch-fid does:
mu and sigma in float64 (numpy.cov, n - 1), covmean = scipy.linalg.sqrtm(s1 @ s2)
(real part), fd = |mu1 - mu2|^2 + tr s1 + tr s2 - 2 tr covmean.

Run with the system interpreter: /usr/bin/python3 tests/golden/make_fd_goldens.py
"""
import os
import sys

import numpy as np
from scipy import linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import write_safetensors  # noqa: E402


def features(rng, n, d, shift, mix_scale):
    """Correlated, non-Gaussian features: a random mixing of uniform noise."""
    mix = rng.standard_normal((d, d)) * mix_scale / np.sqrt(d)
    z = rng.uniform(-1, 1, (n, d))
    return (z @ mix + np.tanh(z) + shift).astype(np.float32)


def fd_scipy(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fd', 'fd_goldens.safetensors')
    rng = np.random.default_rng(12)
    cases = [('d8', 8, 40, 50, 0.3), ('d32', 32, 100, 120, 0.1), ('d64', 64, 90, 70, 0.05)]
    tensors = []
    for name, d, n1, n2, shift in cases:
        a = features(rng, n1, d, 0.0, 1.0)
        b = features(rng, n2, d, shift, 1.5)
        tensors += [(name + '.a', a), (name + '.b', b), (name + '.fd', np.array(fd_scipy(a, b)))]
        print(name, fd_scipy(a, b))
    write_safetensors(out, tensors, {'made_by': 'tests/golden/make_fd_goldens.py'})


if __name__ == '__main__':
    main()
