#!/usr/bin/python3
"""Writes tests/golden/sampler/sampler_goldens.safetensors (test_sampler.c).

Run with Debian's python (numpy, scipy):
    /usr/bin/python3 tests/golden/make_sampler_goldens.py

A reference of pixeldit's samplers in float64, written from the equations of
docs/sampling.md (not from the C code), on a closed-form "network": data
x ~ N(mu_y, diag(s^2)) per class y, for which the data prediction of JiT's
interpolant z = t x + (1 - t) e is
    x_hat(z, t) = mu + t s^2 (z - t mu) / (t^2 s^2 + (1 - t)^2).
The null label (unconditional branch) has mean mu_u.

Tensors (F64 unless said):
  mu (K + 1, P) class means, the last row the null label's; s (P) std;
  z0 (B, P) F32 starting noise; labels (B) I32;
  grid_<schedule>_<steps> (steps + 1) F32 time grids;
  out_<case> (B, P) final z of each case; metadata case_<case> =
  "sampler,schedule,steps,cfg,low,high".
"""
import os
import sys

import numpy as np
from scipy.special import ndtri

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def write_safetensors(path, tensors, metadata):
    import json
    import struct
    dtypes = {np.dtype('float32'): 'F32', np.dtype('float64'): 'F64', np.dtype('int32'): 'I32'}
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dtypes[arr.dtype], 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


K, P, B = 3, 4, 3
P_MEAN, P_STD, T_EPS = -0.8, 0.8, 0.05
MU = np.array([[0.5, -0.3, 0.8, -0.9], [0.1, 0.4, -0.6, 0.2], [-0.7, 0.9, 0.3, 0.6],
               [0.0, 0.2, 0.1, -0.1]])
S = np.array([0.3, 0.5, 0.2, 0.7])
LABELS = np.array([0, 2, 1], np.int32)


def torch_linspace01(n):
    """torch.linspace(0, 1, n) in float32: first half start + step i, second end - step (n-1-i)."""
    if n == 1:
        return np.zeros(1, np.float32)
    step = np.float32(1.0) / np.float32(n - 1)
    return np.array([np.float32(step * np.float32(i)) if i < n // 2 else
                     np.float32(np.float32(1.0) - step * np.float32(n - 1 - i)) for i in range(n)], np.float32)


def grid(schedule, n):
    if schedule == 'uniform':
        return torch_linspace01(n + 1)
    u = np.arange(1, n) / n
    if schedule == 'logit-normal':
        inner = 1 / (1 + np.exp(-(P_MEAN + P_STD * ndtri(u))))
    else:  # logsnr
        L = np.log(5.0 * n)
        inner = 1 / (1 + np.exp(-L * (2 * u - 1)))
    return np.concatenate([[0.0], inner, [1.0]]).astype(np.float32)


def denoise(z, t, labels, cfg):
    """Guided data prediction: x_u + w (x_c - x_u) where low < t < high."""
    def xhat(mu):
        return mu + t * S**2 * (z - t * mu) / (t**2 * S**2 + (1 - t)**2)
    scale, low, high = cfg
    xc = xhat(MU[labels])
    guided = t < high and (low == 0 or t > low) and scale != 1
    if not guided:
        return xc
    xu = xhat(MU[K])
    return xu + scale * (xc - xu)


def lam(t):
    return np.log(t / (1 - t))


def velocity(z, t, labels, cfg):
    return (denoise(z, t, labels, cfg) - z) / max(1 - t, T_EPS)


def heun_euler(z, ts, labels, cfg, heun):
    for i in range(len(ts) - 1):
        s, t = ts[i], ts[i + 1]
        v = velocity(z, s, labels, cfg)
        if heun and i < len(ts) - 2:
            v2 = velocity(z + (t - s) * v, t, labels, cfg)
            z = z + (t - s) * 0.5 * (v + v2)
        else:
            z = z + (t - s) * v
    return z


def first_order(z, s, t, x):
    """DDIM in data prediction: sigma_t / sigma_s z - alpha_t (e^-h - 1) x."""
    if t >= 1:
        return x
    em = 0.0 if s == 0 else np.exp(-(lam(t) - lam(s)))
    return (1 - t) / (1 - s) * z + t * (1 - em) * x


def dpmpp_2m(z, ts, labels, cfg):
    prev = None  # (t, x_hat) of the previous point, if its lambda is finite
    for i in range(len(ts) - 1):
        s, t = float(ts[i]), float(ts[i + 1])
        x = denoise(z, s, labels, cfg)
        if prev is not None and t < 1:
            h, h0 = lam(t) - lam(s), lam(s) - lam(prev[0])
            r = h0 / h
            D = (1 + 1 / (2 * r)) * x - 1 / (2 * r) * prev[1]
        else:
            D = x
        z = first_order(z, s, t, D)
        prev = (s, x) if s > 0 else None
    return z


def unipc_bh2(z, ts, labels, cfg):
    """UniP-2 + UniC (B(h) = expm1(-h)), data prediction, as Zhao et al. 2023 alg. / eq. 'bh2'."""
    n = len(ts) - 1
    x0 = denoise(z, float(ts[0]), labels, cfg)
    prev = None
    for i in range(n):
        s, t = float(ts[i]), float(ts[i + 1])
        final = t >= 1
        order = 2 if (prev is not None and not final) else 1
        zt_ = first_order(z, s, t, x0)
        if final:
            z = zt_
            break
        h = lam(t) - lam(s) if s > 0 else np.inf
        hh = -h
        alpha = t
        Bh = np.expm1(hh)
        D1s = []
        if order == 2:
            r1 = (lam(prev[0]) - lam(s)) / h
            D1s = [(prev[1] - x0) / r1]
        pred = zt_ - alpha * Bh * (0.5 * D1s[0]) if order == 2 else zt_
        if i == n - 1:
            z = pred
            break
        xt = denoise(pred, t, labels, cfg)
        if order == 1:
            rhos = [0.5]
            z = zt_ - alpha * Bh * rhos[0] * (xt - x0)
        else:
            hphi = np.expm1(hh) / hh - 1
            b = [hphi / Bh]
            hphi = hphi / hh - 0.5
            b.append(hphi * 2 / Bh)
            R = np.array([[1.0, 1.0], [r1, 1.0]])
            rhos = np.linalg.solve(R, np.array(b))
            z = zt_ - alpha * Bh * (rhos[0] * D1s[0] + rhos[1] * (xt - x0))
        prev = (s, x0) if s > 0 else None
        x0 = xt
    return z


def solve(sampler, z, ts, labels, cfg):
    if sampler in ('heun', 'euler'):
        return heun_euler(z, ts.astype(np.float64), labels, cfg, sampler == 'heun')
    return (dpmpp_2m if sampler == 'dpm++2m' else unipc_bh2)(z, ts, labels, cfg)


CASES = []
for sampler in ('heun', 'euler', 'dpm++2m', 'unipc'):
    for schedule in ('uniform', 'logit-normal', 'logsnr'):
        for steps in (1, 2, 4, 7):
            CASES.append((sampler, schedule, steps, 1.0, 0.0, 1.0))
    # guidance on an interval that some points fall on the edges of (t = 0.25, 0.75 on 4 / 8 steps)
    for steps in (4, 8):
        CASES.append((sampler, 'uniform', steps, 2.5, 0.25, 0.75))
        CASES.append((sampler, 'logsnr', steps, 3.0, 0.0, 0.6))


def main():
    rng = np.random.default_rng(26)
    z0 = rng.standard_normal((B, P)).astype(np.float32)
    tensors = [('mu', MU), ('s', S), ('z0', z0), ('labels', LABELS)]
    meta = {}
    grids = set()
    for i, (sampler, schedule, steps, scale, low, high) in enumerate(CASES):
        ts = grid(schedule, steps)
        key = f'grid_{schedule}_{steps}'
        if key not in grids:
            grids.add(key)
            tensors.append((key, ts))
        out = solve(sampler, z0.astype(np.float64), ts, LABELS, (scale, low, high))
        name = f'c{i:02d}'
        meta[f'case_{name}'] = f'{sampler},{schedule},{steps},{scale},{low},{high}'
        tensors.append((f'out_{name}', out))
    meta['cases'] = str(len(CASES))
    write_safetensors(os.path.join(HERE, 'sampler', 'sampler_goldens.safetensors'), tensors, meta)


if __name__ == '__main__':
    main()
