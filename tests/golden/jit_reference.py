#!/usr/bin/python3
"""An independent PyTorch reference of the official JiT (jit.md), fp32, CPU.

Written from /work/shared/specs/jit.md (model_jit.py, util/model_util.py and
denoiser.py semantics of LTH14/JiT cbc743a). It is the numerical reference
for pixeldit's parity tests and benchmarks:

    from jit_reference import JiT, JiTConfig, CONFIGS, v_loss, sample
    model = JiT(CONFIGS['JiT-B/16'])          # state_dict keys = official ones
    x_pred = model(z, t, labels)               # (B, C, H, W)

Everything runs in float32 with no autocast (jit.md 6: "run PyTorch entirely
in fp32"). The state_dict has exactly the official keys, without the
Denoiser's `net.` prefix; pos_embed is in it (frozen), the RoPE tables are
not. Run with Debian's python (torch 1.13): /usr/bin/python3.
"""
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ------------------------------------------------------------- config ------

@dataclass(frozen=True)
class JiTConfig:
    """Field names follow pixeldit's pd_jit_config."""
    image_size: int = 256
    channels: int = 3
    patch_size: int = 16
    hidden_size: int = 768
    depth: int = 12
    num_heads: int = 12
    bottleneck_dim: int = 128
    mlp_ratio: float = 4.0
    in_context_len: int = 32
    in_context_start: int = 4
    num_classes: int = 1000
    proj_dropout: float = 0.0
    attn_dropout: float = 0.0

    @property
    def grid(self):
        return self.image_size // self.patch_size

    @property
    def head_dim(self):
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self):
        # JiTBlock: int(D * ratio); SwiGLUFFN: int(hidden * 2 / 3)
        return int(int(self.hidden_size * self.mlp_ratio) * 2 / 3)


_B = JiTConfig(hidden_size=768, depth=12, num_heads=12, bottleneck_dim=128, in_context_start=4)
_L = JiTConfig(hidden_size=1024, depth=24, num_heads=16, bottleneck_dim=128, in_context_start=8)
_H = JiTConfig(hidden_size=1280, depth=32, num_heads=16, bottleneck_dim=256, in_context_start=10,
               proj_dropout=0.2)
CONFIGS = {  # jit.md 1.1: /16 at 256^2, /32 at 512^2
    'JiT-B/16': _B, 'JiT-B/32': replace(_B, image_size=512, patch_size=32),
    'JiT-L/16': _L, 'JiT-L/32': replace(_L, image_size=512, patch_size=32),
    'JiT-H/16': _H, 'JiT-H/32': replace(_H, image_size=512, patch_size=32),
}


# ------------------------------------------------------- fixed tables ------

def sincos_pos_embed(dim, grid):
    """MAE get_2d_sincos_pos_embed in float64 numpy -> (grid*grid, dim) float64.

    Token (row i, col j): [sin(j w), cos(j w), sin(i w), cos(i w)], each D/4
    wide, w_k = 1 / 10000^(k / (D/4)). The column index comes first because
    upstream builds meshgrid(grid_w, grid_h) (jit.md 1.4).
    """
    quarter = dim // 4
    omega = 1.0 / 10000.0 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                             indexing='ij')
    ang_col = np.outer(cols.reshape(-1), omega)
    ang_row = np.outer(rows.reshape(-1), omega)
    return np.concatenate([np.sin(ang_col), np.cos(ang_col), np.sin(ang_row), np.cos(ang_row)], axis=1)


def timestep_features(t, dim=256, max_period=10000):
    """GLIDE/DiT features of raw t in [0, 1]: [cos(t f), sin(t f)], float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Rope2D:
    """VisionRotaryEmbeddingFast(dim = head_dim/2, pt_seq_len = grid), theta
    10000, built in float32 step by step as upstream. cos / sin are
    (n_prefix + grid^2, head_dim); prefix rows are the identity (cos 1,
    sin 0). Dims [0, hd/2) rotate with the row index, [hd/2, hd) with the
    column index; pairs (2m, 2m+1) rotate together."""

    def __init__(self, head_dim, grid, n_prefix=0, theta=10000):
        R = head_dim // 2
        freqs = 1.0 / (theta ** (torch.arange(0, R, 2)[:R // 2].float() / R))   # (R/2,)
        pos = torch.arange(grid) / grid * grid                                   # float32
        ang = (pos[:, None] * freqs[None, :]).repeat_interleave(2, dim=-1)       # (G, R)
        ang2d = torch.cat([ang[:, None, :].expand(grid, grid, R),                # row i
                           ang[None, :, :].expand(grid, grid, R)], dim=-1)       # col j
        ang2d = ang2d.reshape(grid * grid, head_dim)
        self.cos = torch.cat([torch.ones(n_prefix, head_dim), ang2d.cos()], dim=0)
        self.sin = torch.cat([torch.zeros(n_prefix, head_dim), ang2d.sin()], dim=0)

    @staticmethod
    def rotate_pairs(x):
        """(a, b) -> (-b, a) on each adjacent pair of the last dim."""
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).reshape(x.shape)

    def __call__(self, x):
        return x * self.cos + self.rotate_pairs(x) * self.sin


# ------------------------------------------------------------- layers ------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class BottleneckPatchEmbed(nn.Module):
    """Conv p x p (no bias) to d', then 1x1 conv to D: (B,C,H,W) -> (B,N,D)."""

    def __init__(self, cfg):
        super().__init__()
        p = cfg.patch_size
        self.proj1 = nn.Conv2d(cfg.channels, cfg.bottleneck_dim, p, stride=p, bias=False)
        self.proj2 = nn.Conv2d(cfg.bottleneck_dim, cfg.hidden_size, 1, stride=1, bias=True)

    def forward(self, x):
        return self.proj2(self.proj1(x)).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        return self.mlp(timestep_features(t))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, dim):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)  # last row = null class

    def forward(self, labels):
        return self.embedding_table(labels)


class Attention(nn.Module):
    def __init__(self, dim, heads, attn_drop, proj_drop):
        super().__init__()
        self.heads = heads
        hd = dim // heads
        self.q_norm = RMSNorm(hd)       # registration order = upstream state_dict order
        self.k_norm = RMSNorm(hd)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, rope):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                     # (B, H, N, hd)
        q = rope(self.q_norm(q))                             # qk-norm, then RoPE
        k = rope(self.k_norm(k))
        logits = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1]))
        probs = torch.softmax(logits, dim=-1)
        probs = F.dropout(probs, self.attn_drop, self.training)
        out = (probs @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj_drop(self.proj(out))


class SwiGLUFFN(nn.Module):
    def __init__(self, dim, hidden, drop):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        gate, val = self.w12(x).chunk(2, dim=-1)             # first half is the gate
        return self.w3(self.drop(F.silu(gate) * val))


class JiTBlock(nn.Module):
    def __init__(self, cfg, drop):
        super().__init__()
        D = cfg.hidden_size
        self.norm1 = RMSNorm(D)
        self.attn = Attention(D, cfg.num_heads, cfg.attn_dropout if drop else 0.0,
                              cfg.proj_dropout if drop else 0.0)
        self.norm2 = RMSNorm(D)
        self.mlp = SwiGLUFFN(D, cfg.mlp_hidden, cfg.proj_dropout if drop else 0.0)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def forward(self, x, c, rope):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = \
            self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope)
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, p = cfg.hidden_size, cfg.patch_size
        self.norm_final = RMSNorm(D)
        self.linear = nn.Linear(D, p * p * cfg.channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def unpatchify(x, channels, p):
    """(B, h*w, p*p*C) -> (B, C, h*p, w*p); token feature (py*p + px)*C + c."""
    B, N, _ = x.shape
    h = w = int(round(N ** 0.5))
    x = x.reshape(B, h, w, p, p, channels)
    x = torch.einsum('nhwpqc->nchpwq', x)
    return x.reshape(B, channels, h * p, w * p)


# -------------------------------------------------------------- model ------

class JiT(nn.Module):
    """The official JiT; state_dict keys are model_jit.py's (no `net.`)."""

    def __init__(self, cfg: JiTConfig, init=True):
        super().__init__()
        self.cfg = cfg
        D, G, L = cfg.hidden_size, cfg.grid, cfg.in_context_len
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(cfg.num_classes, D)
        self.x_embedder = BottleneckPatchEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, G * G, D), requires_grad=False)
        if L > 0:
            self.in_context_posemb = nn.Parameter(torch.zeros(1, L, D))
        # upstream: dropout where depth // 4 * 3 > i >= depth // 4
        lo, hi = cfg.depth // 4, cfg.depth // 4 * 3
        self.blocks = nn.ModuleList([JiTBlock(cfg, lo <= i < hi) for i in range(cfg.depth)])
        self.final_layer = FinalLayer(cfg)
        # plain tensors, not in the state_dict (as upstream)
        self.rope = Rope2D(cfg.head_dim, G, 0)
        self.rope_incontext = Rope2D(cfg.head_dim, G, L)
        if init:
            self.initialize_weights()

    @torch.no_grad()
    def initialize_weights(self):
        """jit.md 1.10 (uses torch's global RNG)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        pe = sincos_pos_embed(self.cfg.hidden_size, self.cfg.grid)
        self.pos_embed.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        for conv in (self.x_embedder.proj1, self.x_embedder.proj2):
            nn.init.xavier_uniform_(conv.weight.view(conv.weight.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj2.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        if self.cfg.in_context_len > 0:
            nn.init.normal_(self.in_context_posemb, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for lin in [b.adaLN_modulation[-1] for b in self.blocks] + \
                   [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        # RMSNorm weights are created as ones.

    def forward(self, z, t, labels):
        """z (B, C, H, W), t (B,) float in [0, 1], labels (B,) int64
        (num_classes = null) -> x_pred (B, C, H, W)."""
        cfg = self.cfg
        L = cfg.in_context_len
        t_emb = self.t_embedder(t)
        y_emb = self.y_embedder(labels)
        c = t_emb + y_emb                                          # (B, D)
        x = self.x_embedder(z) + self.pos_embed                    # (B, N, D)
        for i, block in enumerate(self.blocks):
            if L > 0 and i == cfg.in_context_start:
                ict = y_emb.unsqueeze(1).repeat(1, L, 1) + self.in_context_posemb
                x = torch.cat([ict, x], dim=1)                     # (B, L + N, D)
            x = block(x, c, self.rope if i < cfg.in_context_start else self.rope_incontext)
        x = x[:, L:]
        x = self.final_layer(x, c)                                 # (B, N, p*p*C)
        return unpatchify(x, cfg.channels, cfg.patch_size)

    def trainable_param_count(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# ------------------------------------------------- diffusion (denoiser.py) --

def velocity(x_pred, z, t, t_eps):
    """(x_pred - z) / max(1 - t, t_eps); t (B,) broadcast per sample."""
    t4 = t.view(-1, 1, 1, 1)
    return (x_pred - z) / (1.0 - t4).clamp_min(t_eps)


def v_loss(model, x, t, e, labels, t_eps=0.05):
    """Denoiser.forward with t and noise given (noise_scale folded into e):
    z = t x + (1 - t) e; mean over (C,H,W) then over the batch of
    (v - v_pred)^2. Returns (loss, z, x_pred)."""
    t4 = t.view(-1, 1, 1, 1)
    z = t4 * x + (1 - t4) * e
    v = velocity(x, z, t, t_eps)
    x_pred = model(z, t, labels)
    v_pred = velocity(x_pred, z, t, t_eps)
    loss = ((v - v_pred) ** 2).mean(dim=(1, 2, 3)).mean()
    return loss, z, x_pred


@torch.no_grad()
def forward_sample(model, z, t, labels, cfg_scale, cfg_interval, t_eps):
    """Guided velocity at one grid time t (0-d float32 tensor). Cond and
    uncond are two separate passes, as upstream."""
    B = z.shape[0]
    tb = t.expand(B)
    v_c = velocity(model(z, tb, labels), z, tb, t_eps)
    v_u = velocity(model(z, tb, torch.full_like(labels, model.cfg.num_classes)), z, tb, t_eps)
    low, high = cfg_interval
    inside = (t < high) & ((low == 0) | (t > low))   # float32 compares, as torch
    w = torch.where(inside, torch.tensor(float(cfg_scale)), torch.tensor(1.0))
    return v_u + w * (v_c - v_u)


@torch.no_grad()
def sample(model, z0, labels, method='heun', steps=50, cfg_scale=1.0, cfg_interval=(0.1, 1.0),
           t_eps=0.05):
    """Denoiser.generate from a given z0: steps-1 Heun (or Euler) steps on
    linspace(0, 1, steps + 1), then one Euler step."""
    ts = torch.linspace(0.0, 1.0, steps + 1)
    f = lambda z, t: forward_sample(model, z, t, labels, cfg_scale, cfg_interval, t_eps)

    def euler(z, t, tn):
        return z + (tn - t) * f(z, t)

    def heun(z, t, tn):
        v0 = f(z, t)
        v1 = f(z + (tn - t) * v0, tn)
        return z + (tn - t) * (0.5 * (v0 + v1))

    step = heun if method == 'heun' else euler
    z = z0.clone()
    for i in range(steps - 1):
        z = step(z, ts[i], ts[i + 1])
    return euler(z, ts[-2], ts[-1])


if __name__ == '__main__':
    torch.manual_seed(0)
    for name in ('JiT-B/16', 'JiT-B/32'):
        m = JiT(CONFIGS[name], init=False)
        print(name, m.trainable_param_count(), 'trainable,', len(m.state_dict()), 'state_dict keys')
