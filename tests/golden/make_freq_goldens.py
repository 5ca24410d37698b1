#!/usr/bin/python3
"""Writes the freq_loss goldens under tests/golden/freq/ (test_freq_loss.c).

Run with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/make_freq_goldens.py

Written from /work/shared/specs/deco.md section 3 (DeCo's REPATrainer freq
loss): YCbCr without offset, F.pad(mode='reflect') on the right/bottom to
multiples of 8, unfold into 8x8 blocks, F = Cmat @ X @ Cmat^T, weights from
the IJG-scaled JPEG Annex K tables (mode inv_gamma), loss = mean(w * (F(out)
- F(v))^2). As in DeCo, both velocities are transformed separately (the C
code transforms the difference: this also checks that linearity step).
A one-channel image is the luma plane alone (DeCo has no such case).

case files <name>.safetensors: v, v_pred (B, C, H, W) F32 inputs; loss ()
and grad.v_pred (B, C, H, W) = d loss / d v_pred, computed in float64 from
the float32 inputs, stored as F32. Metadata: quality, gamma, channels.
tables.safetensors: Q_y_q<q>, Q_c_q<q>, w_y_q<q>, w_c_q<q> (8, 8) F64 for
q = 50, 85, 100 (gamma 1), as DeCo's _build_freq_weight computes them.
"""
import math
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'freq')

LUMA = [[16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]]
CHROMA = [[17, 18, 24, 47] + [99] * 4, [18, 21, 26, 66] + [99] * 4,
          [24, 26, 56] + [99] * 5, [47, 66] + [99] * 6] + [[99] * 8] * 4


def dct_matrix(n=8):
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * i + 1) * k / (2.0 * n))
    alpha = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64)
    alpha[0] = math.sqrt(1.0 / n)
    return alpha[:, None] * c  # C[k, n]


def scale_q(base, quality):
    """DeCo's scale_q, on a float32 table as in DeCo (exact for every q)."""
    q = max(1, min(100, int(quality)))
    scale = 5000 / q if q < 50 else 200 - 2 * q
    return torch.floor((torch.tensor(base, dtype=torch.float32) * scale + 50) / 100).clamp(1, 255)


def q_to_weight(Q, gamma):
    Q = Q.double()
    w = (Q.mean() / Q) ** gamma
    return w / w.mean()


def rgb2ycbcr(x):
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return torch.cat([y, cb, cr], dim=1)


def block_dct(x):
    """(B, C, H, W) -> (B, C, Hb, Wb, 8, 8), reflect-padded right/bottom."""
    B, C, H, W = x.shape
    ph, pw = (-H) % 8, (-W) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode='reflect')
    blocks = x.unfold(2, 8, 8).unfold(3, 8, 8)
    cm = dct_matrix().to(x.dtype)
    return cm @ blocks @ cm.t()


def freq_loss(out, v, quality, gamma):
    C = out.shape[1]
    wy = q_to_weight(scale_q(LUMA, quality), gamma)
    wc = q_to_weight(scale_q(CHROMA, quality), gamma)
    if C == 3:
        w = torch.stack([wy, wc, wc])
        out, v = rgb2ycbcr(out), rgb2ycbcr(v)
    else:
        w = wy[None]
    w = w[None, :, None, None].to(out.dtype)  # (1, C, 1, 1, 8, 8)
    return (w * (block_dct(out) - block_dct(v)) ** 2).mean()


def make_case(name, B, C, H, W, quality, gamma):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)
    v = torch.randn(B, C, H, W, dtype=torch.float32)
    v_pred = v + 0.7 * torch.randn(B, C, H, W, dtype=torch.float32)
    vp = v_pred.double().requires_grad_(True)
    loss = freq_loss(vp, v.double(), quality, gamma)
    loss.backward()
    write_safetensors(os.path.join(OUT, name + '.safetensors'),
                      [('v', v.numpy()), ('v_pred', v_pred.numpy()),
                       ('loss', np.array(loss.item(), dtype=np.float32)),
                       ('grad.v_pred', vp.grad.float().numpy())],
                      {'quality': quality, 'gamma': repr(gamma), 'channels': C,
                       'torch': torch.__version__})


def make_tables():
    tensors = []
    for q in (50, 85, 100):
        qy, qc = scale_q(LUMA, q), scale_q(CHROMA, q)
        tensors += [('Q_y_q%d' % q, qy.double().numpy()), ('Q_c_q%d' % q, qc.double().numpy()),
                    ('w_y_q%d' % q, q_to_weight(qy, 1.0).numpy()),
                    ('w_c_q%d' % q, q_to_weight(qc, 1.0).numpy())]
    write_safetensors(os.path.join(OUT, 'tables.safetensors'), tensors,
                      {'gamma': '1.0', 'torch': torch.__version__})


CASES = [
    # name, B, C, H, W, quality, gamma
    ('rgb_16x16_q85', 2, 3, 16, 16, 85, 1.0),
    ('rgb_12x20_q50', 2, 3, 12, 20, 50, 1.0),
    ('rgb_13x10_q85', 1, 3, 13, 10, 85, 1.0),
    ('gray_16x16_q85', 2, 1, 16, 16, 85, 1.0),
    ('gray_13x10_q30_g0.5', 3, 1, 13, 10, 30, 0.5),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for case in CASES:
        make_case(*case)
    make_tables()
    # the spec's printed numbers, so a wrong table fails here first
    wy, wc = q_to_weight(scale_q(LUMA, 85), 1.0), q_to_weight(scale_q(CHROMA, 85), 1.0)
    assert abs(scale_q(LUMA, 85).double().mean().item() - 17.328) < 1e-3
    assert abs(wy[0, 1].item() - 3.3551) < 1e-4 and abs(wc[0, 0].item() - 3.8740) < 1e-4
    print('freq goldens written to %s (torch %s)' % (OUT, torch.__version__), file=sys.stderr)


if __name__ == '__main__':
    main()
