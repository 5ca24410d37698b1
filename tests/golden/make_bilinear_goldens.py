#!/usr/bin/python3
"""Writes the goldens of the bilinear_head plugin under tests/golden/bilinear/
and prints its parameter counts.

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_bilinear_goldens.py

BilinearHead below is written from docs/bilinear_head.md with plain torch
modules and the plugin's parameter names without "decoder.":
final_layer.{norm_final, adaLN_modulation.1, linear} (JiT's final layer;
linear only with residual), proj (token -> s*s*C*k features), refine (the
k x k conv). The pixel shuffle is jit_reference.unpatchify, the resize
F.interpolate(mode='bilinear').

For each case <name> (tests/unit/test_bilinear_head.c reads them):
  <name>.weights.safetensors  every parameter, random (the zero-initialised
      ones too, so every path carries signal).
  <name>.data.safetensors     inputs tokens (B,N,D), c (B,D); out (B,C,H,W);
      gy, a random upstream gradient; grad.<param>, grad.tokens, grad.c.
  Metadata: the model (image_size, channels, patch_size, hidden_size), the
  keys (k, kernel, residual, align_corners, grid_mult) and params.
Float32 on CPU, one thread; rerunning gives the same bytes.
"""
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from jit_reference import RMSNorm, modulate, unpatchify  # noqa: E402
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'bilinear')
torch.set_num_threads(1)


class FinalLayer(nn.Module):
    """JiT's final layer; without `linear` when the head is not residual."""

    def __init__(self, D, p, C, with_linear):
        super().__init__()
        self.norm_final = RMSNorm(D)
        if with_linear:
            self.linear = nn.Linear(D, p * p * C)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))

    def modulated(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return modulate(self.norm_final(x), shift, scale)


class BilinearHead(nn.Module):
    def __init__(self, C, p, D, k=4, kernel=3, residual=True, align_corners=False, grid_mult=1):
        super().__init__()
        self.C, self.p, self.D, self.K, self.s = C, p, D, C * k, grid_mult
        self.residual, self.align_corners = residual, align_corners
        self.final_layer = FinalLayer(D, p, C, residual)
        self.proj = nn.Linear(D, grid_mult * grid_mult * self.K)
        self.refine = nn.Conv2d(self.K + (C if residual else 0), C, kernel, padding=kernel // 2)

    def forward(self, tokens, c):
        B, N, _ = tokens.shape
        g = int(round(N ** 0.5))
        H = g * self.p
        h = self.final_layer.modulated(tokens, c)                      # (B, N, D)
        f = unpatchify(self.proj(h), self.K, self.s)                   # (B, K, s g, s g)
        u = F.interpolate(f, size=(H, H), mode='bilinear', align_corners=self.align_corners)
        if not self.residual:
            return self.refine(u)
        j = unpatchify(self.final_layer.linear(h), self.C, self.p)     # (B, C, H, W)
        return j + self.refine(torch.cat([u, j], 1))


def count(m):
    return sum(q.numel() for q in m.parameters())


# name: (image_size, C, p, D, B, keys)
CASES = {
    # the defaults at the small preset's patch: residual, k 4, 3x3, token grid
    'bilinear_p4': (8, 1, 4, 16, 2, dict(k=4, kernel=3, residual=True, align_corners=False, grid_mult=1)),
    # p 8, RGB, feature map at 2x the token grid, align_corners, no residual
    'bilinear_p8_s2': (16, 3, 8, 12, 1, dict(k=2, kernel=3, residual=False, align_corners=True, grid_mult=2)),
    # odd patch (3), odd grid (5 x 5), 5x5 conv, 2x grid (up-sampling by 1.5)
    'bilinear_p3_odd': (15, 2, 3, 8, 2, dict(k=3, kernel=5, residual=True, align_corners=False, grid_mult=2)),
    # 1x1 conv (no spatial mixing), k 1, 3 x 3 grid, align_corners
    'bilinear_p4_k1': (12, 1, 4, 8, 1, dict(k=1, kernel=1, residual=True, align_corners=True, grid_mult=1)),
}


def np32(t):
    return t.detach().numpy().astype('<f4')


@torch.no_grad()
def randomise(m):
    for name, q in m.named_parameters():
        if 'norm' in name:
            q.copy_(1.0 + 0.1 * torch.randn_like(q))
        else:
            q.copy_(torch.randn_like(q) * 0.3)


def make_case(name, image_size, C, p, D, B, keys):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)
    m = BilinearHead(C, p, D, **keys)
    randomise(m)
    N = (image_size // p) ** 2
    tokens = torch.randn(B, N, D).requires_grad_(True)
    c = torch.randn(B, D).requires_grad_(True)
    out = m(tokens, c)
    assert out.shape == (B, C, image_size, image_size)
    gy = torch.randn(out.shape)
    params = list(m.named_parameters())
    grads = torch.autograd.grad((out * gy).sum(), [q for _, q in params] + [tokens, c])
    meta = dict(image_size=image_size, channels=C, patch_size=p, hidden_size=D,
                k=keys['k'], kernel=keys['kernel'], residual=str(keys['residual']).lower(),
                align_corners=str(keys['align_corners']).lower(), grid_mult=keys['grid_mult'],
                params=count(m), torch=torch.__version__)
    write_safetensors(os.path.join(OUT, name + '.weights.safetensors'),
                      [(n, np32(q)) for n, q in params], meta)
    data = [('tokens', np32(tokens)), ('c', np32(c)), ('out', np32(out)), ('gy', np32(gy))]
    names = [n for n, _ in params] + ['tokens', 'c']
    data += [('grad.' + n, np32(g)) for n, g in zip(names, grads)]
    write_safetensors(os.path.join(OUT, name + '.data.safetensors'), data, meta)
    print(f'{name}: {count(m)} parameters, out {tuple(out.shape)}')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        make_case(name, *args)
    # counts hard-coded in tests/unit/test_bilinear_head.c and docs/bilinear_head.md
    print('small preset (C 1, p 4, D 192), defaults:', count(BilinearHead(1, 4, 192)))
    print('small preset, grid_mult 2:', count(BilinearHead(1, 4, 192, grid_mult=2)))
    print('small preset, residual false:', count(BilinearHead(1, 4, 192, residual=False)))
    print('JiT-B/16 (C 3, p 16, D 768), defaults:', count(BilinearHead(3, 16, 768)))


if __name__ == '__main__':
    main()
