#!/usr/bin/python3
"""Writes the goldens of the unet_decoder plugin (DiP's Patch Detailer Head)
under tests/golden/unet/, and prints the head's PyTorch parameter counts.

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_unet_goldens.py

UNetHead below is written from the spec (pixeldit_dip.md 2.2) with plain
nn.Conv2d / nn.ConvTranspose2d / max_pool2d / SiLU and the parameter names
of plugins/unet_decoder without their "decoder." prefix (enc1.weight, ...,
bottleneck.*, up<k>.*, dec<k>.*, out.*, and final_layer.* in residual mode).
For each case <name> (tests/unit/test_unet_decoder.c reads them):
  <name>.weights.safetensors  every parameter, PyTorch default init (the
      output conv too, so every path carries signal; the residual final
      layer is randomised as the JiT goldens do).
  <name>.data.safetensors     inputs z (B,C,H,W), tokens (B,N,D), t_emb (B,D),
      c (B,D); out = head (B,C,H,W); gy, random upstream gradient; and
      grad.<param>, grad.tokens, grad.t_emb, grad.c = d sum(out * gy) / d x.
  Metadata of both: the model (image_size, channels, patch_size,
  hidden_size) and the plugin keys (mode, base_width, stages,
  max_width_mult). Float32 on CPU, one thread; rerunning gives the same bytes.
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
from jit_reference import RMSNorm, modulate, unpatchify  # noqa: E402
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'unet')
torch.set_num_threads(1)


class FinalLayer(nn.Module):
    """JiT's final layer (jit_reference.FinalLayer) for explicit sizes."""

    def __init__(self, D, p, C):
        super().__init__()
        self.norm_final = RMSNorm(D)
        self.linear = nn.Linear(D, p * p * C)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class UNetHead(nn.Module):
    """Per-patch conv U-Net; the token enters at the bottleneck (DiP)."""

    def __init__(self, C, p, D, width=64, stages=0, max_width_mult=8, mode='replace'):
        super().__init__()
        full = int(math.log2(p))
        assert p >= 2 and 2 ** full == p
        self.C, self.p, self.D, self.mode = C, p, D, mode
        self.S = S = stages or full
        ch = [0] + [width * min(2 ** (k - 1), max_width_mult) for k in range(1, S + 1)]
        for k in range(1, S + 1):
            setattr(self, f'enc{k}', nn.Conv2d(C if k == 1 else ch[k - 1], ch[k], 3, padding=1))
        self.bottleneck = nn.Conv2d(ch[S] + D, ch[S], 1)
        for k in range(S, 0, -1):
            setattr(self, f'up{k}', nn.ConvTranspose2d(ch[k], ch[k], 2, stride=2))
            setattr(self, f'dec{k}', nn.Conv2d(2 * ch[k], ch[k - 1] if k > 1 else width, 3, padding=1))
        self.out = nn.Conv2d(width, C, 1)
        if mode == 'residual':
            self.final_layer = FinalLayer(D, p, C)

    def forward(self, z, tokens, t_emb, c):
        B, C, H, W = z.shape
        p, S, N = self.p, self.S, tokens.shape[1]
        x = F.unfold(z, p, stride=p).transpose(1, 2).reshape(B * N, C, p, p)  # patches
        s = F.silu(t_emb[:, None, :] + tokens).reshape(B * N, self.D, 1, 1)  # s = silu(t_emb + s_N)
        b = p >> S
        s = s.expand(-1, -1, b, b)  # repeated over a larger bottleneck (fewer stages)
        skips, f = {}, x
        for k in range(1, S + 1):
            if k > 1:
                f = F.max_pool2d(f, 2)
            f = skips[k] = F.silu(getattr(self, f'enc{k}')(f))
        f = F.max_pool2d(f, 2)
        f = F.silu(self.bottleneck(torch.cat([f, s], 1)))
        for k in range(S, 0, -1):
            u = getattr(self, f'up{k}')(f)
            f = F.silu(getattr(self, f'dec{k}')(torch.cat([u, skips[k]], 1)))
        y = self.out(f)  # (B*N, C, p, p)
        y = F.fold(y.reshape(B, N, C * p * p).transpose(1, 2), (H, W), p, stride=p)
        if self.mode == 'residual':
            y = y + unpatchify(self.final_layer(tokens, c), C, p)
        return y


def count(head):
    return sum(p.numel() for p in head.parameters())


def conv_flops(head, image_size, B=1):
    """Forward FLOPs per image of the head's convolutions, measured with hooks
    on a real forward: 2 * Cin * Cout * kh * kw * Hout * Wout per conv (for the
    2x2 stride-2 transposed conv every output pixel takes Cin * Cout MACs:
    2 * Cin * Cout * Hout * Wout), summed over the B * N patches, / B."""
    total = [0]

    def hook(mod, inp, out):
        ci, co = inp[0].shape[1], out.shape[1]
        taps = 1 if isinstance(mod, nn.ConvTranspose2d) else mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += 2 * ci * co * taps * out.shape[2] * out.shape[3] * out.shape[0]

    hooks = [m.register_forward_hook(hook) for m in head.modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    N = (image_size // head.p) ** 2
    with torch.no_grad():
        head(torch.zeros(B, head.C, image_size, image_size), torch.zeros(B, N, head.D),
             torch.zeros(B, head.D), torch.zeros(B, head.D))
    for h in hooks:
        h.remove()
    return total[0] // B


# name: (image_size, C, p, D, B, keys)
CASES = {
    # the small preset's shape (C 1, p 4: 2 stages), narrow
    'unet_p4': (8, 1, 4, 16, 2, dict(base_width=8)),
    # DiP's p = 16 layout (4 stages, 8w at enc4), base 4 to stay small
    'unet_p16': (32, 3, 16, 16, 2, dict(base_width=4)),
    # residual mode (JiT final layer + head), 1 stage: 2 x 2 bottleneck with
    # the token repeated over it (DiP-XL/32's situation)
    'unet_p4_residual': (8, 3, 4, 12, 2, dict(base_width=4, stages=1, mode='residual')),
    # channel cap: p 8 (3 stages) with max_width_mult 2 -> w, 2w, 2w
    'unet_p8_cap': (16, 2, 8, 8, 1, dict(base_width=4, max_width_mult=2)),
}


def np32(t):
    return t.detach().numpy().astype('<f4')


@torch.no_grad()
def perturb_final_layer(head):
    """JiT zero-inits the final layer; random values make its gradients meaningful."""
    for name, p in head.named_parameters():
        if not name.startswith('final_layer.'):
            continue
        if 'norm' in name:
            p.copy_(1.0 + 0.1 * torch.randn_like(p))
        else:
            p.copy_(torch.randn_like(p) * 0.2)


def make_case(name, image_size, C, p, D, B, keys):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)
    head = UNetHead(C, p, D, width=keys['base_width'], stages=keys.get('stages', 0),
                    max_width_mult=keys.get('max_width_mult', 8), mode=keys.get('mode', 'replace'))
    perturb_final_layer(head)
    N = (image_size // p) ** 2
    z = torch.randn(B, C, image_size, image_size)
    tokens = torch.randn(B, N, D).requires_grad_(True)
    t_emb = torch.randn(B, D).requires_grad_(True)
    c = torch.randn(B, D).requires_grad_(True)
    out = head(z, tokens, t_emb, c)
    gy = torch.randn(out.shape)
    params = list(head.named_parameters())
    grads = torch.autograd.grad((out * gy).sum(), [q for _, q in params] + [tokens, t_emb, c],
                                allow_unused=True)
    grads = [g if g is not None else torch.zeros_like(x)
             for g, x in zip(grads, [q for _, q in params] + [tokens, t_emb, c])]

    meta = dict(image_size=image_size, channels=C, patch_size=p, hidden_size=D,
                mode=keys.get('mode', 'replace'), base_width=keys['base_width'],
                stages=keys.get('stages', 0), max_width_mult=keys.get('max_width_mult', 8),
                params=count(head), torch=torch.__version__)
    weights = [(n, np32(q)) for n, q in params]
    write_safetensors(os.path.join(OUT, name + '.weights.safetensors'), weights, meta)
    data = [('z', np32(z)), ('tokens', np32(tokens)), ('t_emb', np32(t_emb)), ('c', np32(c)),
            ('out', np32(out)), ('gy', np32(gy))]
    names = [n for n, _ in params] + ['tokens', 't_emb', 'c']
    data += [('grad.' + n, np32(g)) for n, g in zip(names, grads)]
    write_safetensors(os.path.join(OUT, name + '.data.safetensors'), data, meta)
    print(f'{name}: {count(head)} parameters, out {tuple(out.shape)}')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        make_case(name, *args)
    # counts hard-coded in tests/unit/test_unet_decoder.c and docs/unet_decoder.md
    xl16, small = UNetHead(3, 16, 1152, 64), UNetHead(1, 4, 192, 64)
    print('DiP-XL/16 head (C 3, p 16, D 1152, base 64):', count(xl16),
          'parameters,', conv_flops(xl16, 256), 'FLOPs per 256^2 image')
    print('small preset head (C 1, p 4, D 192, base 64):', count(small),
          'parameters,', conv_flops(small, 32), 'FLOPs per 32^2 image')
    print('small preset, residual:', count(UNetHead(1, 4, 192, 64, mode='residual')))
    print('DiP-XL/32 head (C 3, p 32, D 1152, base 64, 4 stages):',
          count(UNetHead(3, 32, 1152, 64, stages=4)))
    print('p 32, 5 stages, cap 8w:', count(UNetHead(3, 32, 1152, 64)))
    print('p 32, 5 stages, no cap (16w):', count(UNetHead(3, 32, 1152, 64, max_width_mult=16)))


if __name__ == '__main__':
    main()
