#!/usr/bin/python3
"""Writes the goldens of the pixeldit_decoder plugin (PixelDiT's pixel
pathway) under tests/golden/pixeldit/, and prints its PyTorch parameter
counts and FLOPs.

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_pixeldit_goldens.py

PixelPathway below is written from the spec (pixeldit_dip.md 1.1, 1.3,
1.9) with plain nn.Linear / RMSNorm / exact GELU and the parameter names of
plugins/pixeldit_decoder without their "decoder." prefix
(pixel_embedder.proj.*, pixel_blocks.<i>.{adaLN_modulation.0, norm1,
compress_to_attn, attn.qkv, attn.q_norm, attn.k_norm, attn.proj,
expand_from_attn, norm2, mlp.fc1, mlp.fc2}.*, final_layer.{norm,linear}.*).
Attention is the exact softmax(q k^T / sqrt(hd)) v.
For each case <name> (tests/unit/test_pixeldit_decoder.c reads them):
  <name>.weights.safetensors  every parameter: PyTorch default init, then
      the zero-initialised AdaLN projections and final linear and the
      RMSNorm weights randomised, so that every path carries gradient.
  <name>.data.safetensors     inputs z (B,C,H,W), tokens (B,L,D), t_emb
      (B,D); out (B,C,H,W); gy, a random upstream gradient; grad.<param>,
      grad.tokens, grad.t_emb = d sum(out * gy) / d x.
  Metadata of both: the model (image_size, channels, patch_size,
  hidden_size) and the plugin keys. Float32 on CPU, one thread; rerunning
  gives the same bytes.
"""
import math
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from jit_reference import RMSNorm, Rope2D  # noqa: E402
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'pixeldit')
torch.set_num_threads(1)


def pixel_abs_pe(H, Dp):
    """Spec 1.3 "Pixel abs-PE, exactly": (H*H, Dp) over integer pixel
    coordinates, row-major; [sin x | cos x | sin y | cos y], each Dp/4 wide,
    omega_k = 10000^(-k/(Dp/4)), in float64 then float32."""
    q = Dp // 4
    omega = 1.0 / 10000 ** (np.arange(q, dtype=np.float64) / q)
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(H, dtype=np.float64), indexing='ij')
    ax = xs.reshape(-1, 1) * omega
    ay = ys.reshape(-1, 1) * omega
    pe = np.concatenate([np.sin(ax), np.cos(ax), np.sin(ay), np.cos(ay)], axis=1)
    return torch.from_numpy(pe.astype(np.float32))


class PixelDiTRope:
    """Spec 1.3 (b): 2D RoPE on a G x G grid for head width hd, theta 1e4,
    positions linspace(0, 16, G) on both axes, hd/4 frequencies
    theta^(-4k/hd); rotation pair 2k turns by x*f_k, pair 2k+1 by y*f_k."""

    def __init__(self, hd, G, theta=10000.0):
        f = 1.0 / (theta ** (torch.arange(0, hd, 4)[:hd // 4].float() / hd))  # (hd/4,)
        pos = torch.linspace(0, 16, G)
        y, x = torch.meshgrid(pos, pos, indexing='ij')
        ax = torch.outer(x.reshape(-1), f)  # (G*G, hd/4)
        ay = torch.outer(y.reshape(-1), f)
        ang = torch.stack([ax, ay], dim=-1).reshape(G * G, hd // 2)  # pairs x0 y0 x1 y1 ...
        ang = ang.repeat_interleave(2, dim=-1)  # (G*G, hd): both members of a pair
        self.cos, self.sin = ang.cos(), ang.sin()

    def __call__(self, x):
        return x * self.cos + Rope2D.rotate_pairs(x) * self.sin


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(self.hd)
        self.k_norm = RMSNorm(self.hd)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope):
        B, L, D = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k = rope(self.q_norm(q)), rope(self.k_norm(k))  # (B, heads, L, hd)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class PiTBlock(nn.Module):
    def __init__(self, D, p, Dp, Da, heads, hidden, post):
        super().__init__()
        P = p * p
        self.P, self.Dp, self.Da, self.post = P, Dp, Da, post
        self.adaLN_modulation = nn.Sequential(nn.Linear(D, (4 if post else 6) * P * Dp))
        self.norm1 = RMSNorm(Dp)
        self.compress_to_attn = nn.Linear(P * Dp, Da)
        self.attn = Attention(Da, heads)
        self.expand_from_attn = nn.Linear(Da, P * Dp)
        self.norm2 = RMSNorm(Dp)
        self.mlp = MLP(Dp, hidden)

    def branch(self, h, B, L, rope):
        t = self.compress_to_attn(h.reshape(B, L, self.P * self.Dp))
        return self.expand_from_attn(self.attn(t, rope)).reshape(B * L, self.P, self.Dp)

    def forward(self, x, s_cond, B, L, rope):
        m = self.adaLN_modulation(s_cond).reshape(B * L, self.P, -1).chunk(4 if self.post else 6, -1)
        if self.post:
            scale1, shift1, scale2, shift2 = m
            x = x + self.branch(self.norm1(x), B, L, rope) * (1 + scale1) + shift1
            return x + self.mlp(self.norm2(x)) * (1 + scale2) + shift2
        shift1, scale1, gate1, shift2, scale2, gate2 = m
        x = x + gate1 * self.branch(self.norm1(x) * (1 + scale1) + shift1, B, L, rope)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class FinalLayer(nn.Module):
    def __init__(self, Dp, C):
        super().__init__()
        self.norm = RMSNorm(Dp)
        self.linear = nn.Linear(Dp, C)

    def forward(self, x):
        return self.linear(self.norm(x))


class PixelEmbedder(nn.Module):
    def __init__(self, C, Dp):
        super().__init__()
        self.proj = nn.Linear(C, Dp)


class PixelPathway(nn.Module):
    """z (B,C,H,W), tokens (B,L,D), t_emb (B,D) -> (B,C,H,W)."""

    def __init__(self, C, H, p, D, heads, depth=2, Dp=16, Da=0, mlp_ratio=4.0, post=False,
                 abs_pe=True, rope='pixeldit'):
        super().__init__()
        Da = Da or D
        self.C, self.H, self.p, self.D, self.Dp, self.Da = C, H, p, D, Dp, Da
        self.G = H // p
        self.pixel_embedder = PixelEmbedder(C, Dp)
        self.pixel_blocks = nn.ModuleList(
            [PiTBlock(D, p, Dp, Da, heads, int(Dp * mlp_ratio), post) for _ in range(depth)])
        self.final_layer = FinalLayer(Dp, C)
        self.abs_pe = pixel_abs_pe(H, Dp) if abs_pe else None
        hd = Da // heads
        self.rope = PixelDiTRope(hd, self.G) if rope == 'pixeldit' else Rope2D(hd, self.G, 0)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)
        for blk in self.pixel_blocks:
            nn.init.zeros_(blk.adaLN_modulation[0].weight)
            nn.init.zeros_(blk.adaLN_modulation[0].bias)

    def forward(self, z, tokens, t_emb):
        B, C, H, W = z.shape
        p, G, L = self.p, self.G, self.G * self.G
        s_cond = F.silu(t_emb[:, None, :] + tokens).reshape(B * L, self.D)
        x = self.pixel_embedder.proj(z.permute(0, 2, 3, 1))  # (B, H, W, Dp)
        if self.abs_pe is not None:
            x = x + self.abs_pe.reshape(H, W, self.Dp)
        x = x.reshape(B, G, p, G, p, self.Dp).permute(0, 1, 3, 2, 4, 5).reshape(B * L, p * p, self.Dp)
        for blk in self.pixel_blocks:
            x = blk(x, s_cond, B, L, self.rope)
        x = self.final_layer(x)  # (B*L, P, C)
        x = x.reshape(B, G, G, p, p, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, C, H, W)


def count(m):
    return sum(q.numel() for q in m.parameters())


def flops(m, B=1):
    """Forward FLOPs per image: 2 * in * out per row of every nn.Linear,
    measured with hooks on a real forward, plus the attention matmuls
    (q k^T and P v: 2 * 2 * L^2 * Da per block) that are not modules."""
    total = [0]

    def hook(mod, inp, out):
        total[0] += 2 * mod.in_features * mod.out_features * (out.numel() // mod.out_features)

    hooks = [q.register_forward_hook(hook) for q in m.modules() if isinstance(q, nn.Linear)]
    L = m.G * m.G
    with torch.no_grad():
        m(torch.zeros(B, m.C, m.H, m.H), torch.zeros(B, L, m.D), torch.zeros(B, m.D))
    for h in hooks:
        h.remove()
    return total[0] // B + len(m.pixel_blocks) * 4 * L * L * m.Da


# name: (image_size, C, p, D, heads, B, keys)
CASES = {
    # p 4 on a 3 x 3 patch grid (linspace midpoint), pre-modulation, 2 blocks
    'pxd_p4_pre': (12, 1, 4, 8, 2, 2, dict(pixel_depth=2, pixel_dim=8, attn_dim=8)),
    # the same shape, post-modulation (4 chunks, no gates)
    'pxd_p4_post': (12, 3, 4, 8, 2, 2, dict(pixel_depth=2, pixel_dim=8, attn_dim=8,
                                               post_modulation=True)),
    # p 8: 64 pixels per patch, 2 x 2 grid, attn_dim 0 (= D), heads 0 (the model's)
    'pxd_p8_pre': (16, 2, 8, 8, 2, 2, dict(pixel_depth=1, pixel_dim=4, mlp_ratio=2.0)),
    'pxd_p8_post': (16, 2, 8, 8, 2, 1, dict(pixel_depth=2, pixel_dim=4, post_modulation=True)),
    # the non-default keys: no abs-PE, the backbone's JiT RoPE
    'pxd_p4_jitrope_nope': (8, 2, 4, 8, 1, 2, dict(pixel_depth=1, pixel_dim=4, attn_dim=8,
                                                      abs_pe=False, rope='jit')),
}
DEFAULT_KEYS = dict(pixel_depth=2, pixel_dim=16, attn_dim=0, heads=0, mlp_ratio=4.0,
                    post_modulation=False, abs_pe=True, rope='pixeldit')


def build(C, H, p, D, heads, keys):
    k = dict(DEFAULT_KEYS, **keys)
    return PixelPathway(C, H, p, D, k['heads'] or heads, depth=k['pixel_depth'], Dp=k['pixel_dim'],
                        Da=k['attn_dim'], mlp_ratio=k['mlp_ratio'], post=k['post_modulation'],
                        abs_pe=k['abs_pe'], rope=k['rope']), k


def np32(t):
    return t.detach().numpy().astype('<f4')


@torch.no_grad()
def perturb(m):
    """Random values for what starts at zero (AdaLN, final linear) or one
    (RMSNorm weights), so that the goldens test every term."""
    for name, q in m.named_parameters():
        if 'norm' in name:
            q.copy_(1.0 + 0.1 * torch.randn_like(q))
        elif 'adaLN' in name or 'final_layer' in name:
            q.copy_(0.3 * torch.randn_like(q))


def make_case(name, H, C, p, D, heads, B, keys):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)
    m, k = build(C, H, p, D, heads, keys)
    perturb(m)
    L = (H // p) ** 2
    z = torch.randn(B, C, H, H)
    tokens = torch.randn(B, L, D).requires_grad_(True)
    t_emb = torch.randn(B, D).requires_grad_(True)
    out = m(z, tokens, t_emb)
    gy = torch.randn(out.shape)
    params = list(m.named_parameters())
    xs = [q for _, q in params] + [tokens, t_emb]
    grads = torch.autograd.grad((out * gy).sum(), xs)
    meta = dict(image_size=H, channels=C, patch_size=p, hidden_size=D, num_heads=heads,
                params=count(m), torch=torch.__version__)
    meta.update({key: str(v).lower() if isinstance(v, bool) else v for key, v in k.items()})
    write_safetensors(os.path.join(OUT, name + '.weights.safetensors'),
                      [(n, np32(q)) for n, q in params], meta)
    data = [('z', np32(z)), ('tokens', np32(tokens)), ('t_emb', np32(t_emb)), ('out', np32(out)),
            ('gy', np32(gy))]
    names = [n for n, _ in params] + ['tokens', 't_emb']
    data += [('grad.' + n, np32(g)) for n, g in zip(names, grads)]
    write_safetensors(os.path.join(OUT, name + '.data.safetensors'), data, meta)
    print(f'{name}: {count(m)} parameters, out {tuple(out.shape)}')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        make_case(name, *args)
    # hard-coded in tests/unit/test_pixeldit_decoder.c and docs/pixeldit_decoder.md
    for label, args in [
            ('small preset (C 1, 32^2, p 4, D 192, 3 heads), defaults', (1, 32, 4, 192, 3, {})),
            ('small preset, post_modulation', (1, 32, 4, 192, 3, dict(post_modulation=True))),
            ('PixelDiT-XL/16 (C 3, 256^2, D 1152, 16 heads, M 4)', (3, 256, 16, 1152, 16,
                                                                    dict(pixel_depth=4))),
            ('PixelDiT-B/16 (C 3, 256^2, D 768, 12 heads, M 2)', (3, 256, 16, 768, 12, {}))]:
        C, H, p, D, heads, keys = args
        m, _ = build(C, H, p, D, heads, keys)
        print(f'{label}: {count(m)} parameters, {flops(m)} FLOPs per image')


if __name__ == '__main__':
    main()
