#!/usr/bin/python3
"""Writes tests/golden/ema/ema_warmup.safetensors (test_ema.c).

Run with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/make_ema_goldens.py

The reference is the EMA with warm-up as TensorFlow's
ExponentialMovingAverage(num_updates=t) and timm's ModelEma update it: the
decay of update t (0-based, t = updates before it) is
min(decay, (1 + t) / (gamma + t)) (gamma = 10 in both; pixeldit's
[train] ema_warmup_gamma makes it a key), then, in float32 as timm does,
ema.mul_(d).add_(param, alpha=1 - d). The EMA starts as a copy of the
initial parameters.

Tensors: init (K) initial parameters; w (T, K) the parameters after each
optimizer step; decays (D) F64; gammas (G) F64; decay_t (G, D, T) F32 the
decay of each update; out (G, D, T, K) F32 the EMA after each update.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_goldens import write_safetensors  # noqa: E402

T, K = 60, 7
DECAYS = [0.998, 0.9, 0.5]
GAMMAS = [10.0, 40.0]


def main():
    torch.manual_seed(18)
    init = torch.randn(K, dtype=torch.float32)
    w = init + torch.cumsum(torch.randn(T, K, dtype=torch.float32) * 0.1, dim=0)
    decay_t = np.zeros((len(GAMMAS), len(DECAYS), T), np.float32)
    out = np.zeros((len(GAMMAS), len(DECAYS), T, K), np.float32)
    for g, gamma in enumerate(GAMMAS):
        for i, decay in enumerate(DECAYS):
            ema = init.clone()
            for t in range(T):
                d = min(decay, (1.0 + t) / (gamma + t))
                decay_t[g, i, t] = d
                d32 = float(np.float32(d))  # pixeldit keeps decays in float32
                ema.mul_(d32).add_(w[t], alpha=1.0 - d32)
                out[g, i, t] = ema.numpy()
    path = os.path.join(HERE, 'ema', 'ema_warmup.safetensors')
    write_safetensors(path, [('init', init.numpy()), ('w', w.numpy()),
                             ('decays', np.array(DECAYS, np.float64)),
                             ('gammas', np.array(GAMMAS, np.float64)),
                             ('decay_t', decay_t), ('out', out)],
                      {'torch': torch.__version__, 'formula': 'min(decay, (1 + t) / (gamma + t))'})
    print('wrote', path)


if __name__ == '__main__':
    main()
