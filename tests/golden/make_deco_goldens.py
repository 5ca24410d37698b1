#!/usr/bin/python3
"""Writes the goldens of the deco_decoder plugin (DeCo's pixel decoder)
under tests/golden/deco/, and prints the decoder's PyTorch parameter counts.

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_deco_goldens.py

DeCoDecoder below is written from the spec (deco.md 2.1-2.6, the official
PixNerDiT decoder path of dit_c2i_DeCo.py) with its structure and names:
x_embedder.embedder.0 (NerfEmbedder: [pixel ; DCT position] -> Linear),
dec_net.cond_embed ("linear up-sampling" D -> p*p*w), dec_net.input_proj,
dec_net.res_blocks.<j>.{in_ln, mlp.0, mlp.2, adaLN_modulation.1},
dec_net.final_layer.linear; the plugin registers the same names under
"decoder.". Patches are cut with F.unfold and put back with F.fold, per
pixel features are concatenated as in the official code: the plugin's
row-order and split-weight tricks are thereby checked against the plain
formulation.

For each case <name> (tests/unit/test_deco_decoder.c reads them):
  <name>.weights.safetensors  every parameter, random: PyTorch's init, then
      the parameters DeCo zero-initialises (adaLN linears, final linear) and
      the LayerNorm affine set to random values so every path carries
      signal (spec 11: a zero-initialised decoder outputs exactly 0).
  <name>.data.safetensors     inputs z (B,C,H,W), tokens (B,N,D), t_emb (B,D);
      out (B,C,H,W); gy, a random upstream gradient; grad.<param>,
      grad.tokens, grad.t_emb = d sum(out * gy) / d x; dct (p*p, F*F), the
      position table.
  Metadata of both: the model (image_size, channels, patch_size,
  hidden_size), the keys (width, depth, max_freqs) and params (the count).
  Float32 on CPU, one thread; rerunning gives the same bytes.
"""
import math
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'deco')
torch.set_num_threads(1)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class NerfEmbedder(nn.Module):
    """Per-pixel input: [pixel values (C) ; DCT position features (F*F)] -> w."""

    def __init__(self, C, width, max_freqs):
        super().__init__()
        self.max_freqs = max_freqs
        self.embedder = nn.Sequential(nn.Linear(C + max_freqs ** 2, width))

    def position_table(self, p):
        """(p*p, F*F): pixel row*p + col; feature a*F + b with a the x frequency."""
        F_ = self.max_freqs
        pos = torch.linspace(0, 1, p)
        pos_y, pos_x = torch.meshgrid(pos, pos, indexing='ij')
        pos_x, pos_y = pos_x.reshape(-1, 1, 1), pos_y.reshape(-1, 1, 1)
        freqs = torch.linspace(0, F_, F_)
        fx, fy = freqs[None, :, None], freqs[None, None, :]
        coeffs = (1 + fx * fy) ** -1
        dct = torch.cos(pos_x * fx * math.pi) * torch.cos(pos_y * fy * math.pi) * coeffs
        return dct.reshape(p * p, F_ * F_)

    def forward(self, x):  # (M, p*p, C)
        M, P2, _ = x.shape
        dct = self.position_table(int(round(P2 ** 0.5)))
        return self.embedder(torch.cat([x, dct[None].repeat(M, 1, 1)], -1))


class ResBlock(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.in_ln = nn.LayerNorm(w, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(w, 3 * w))

    def forward(self, x, y):
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, -1)
        return x + gate * self.mlp(modulate(self.in_ln(x), shift, scale))


class FinalLayer(nn.Module):
    def __init__(self, w, C):
        super().__init__()
        self.norm_final = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(w, C)

    def forward(self, x):
        return self.linear(self.norm_final(x))


class DecNet(nn.Module):
    """SimpleMLPAdaLN: cond_embed, input_proj, res_blocks, final_layer."""

    def __init__(self, C, p, D, w, depth):
        super().__init__()
        self.p = p
        self.cond_embed = nn.Linear(D, p * p * w)
        self.input_proj = nn.Linear(w, w)
        self.res_blocks = nn.ModuleList([ResBlock(w) for _ in range(depth)])
        self.final_layer = FinalLayer(w, C)
        self.initialize_weights()

    def initialize_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)
        for b in self.res_blocks:
            nn.init.constant_(b.adaLN_modulation[-1].weight, 0)
            nn.init.constant_(b.adaLN_modulation[-1].bias, 0)
        nn.init.constant_(self.final_layer.linear.weight, 0)
        nn.init.constant_(self.final_layer.linear.bias, 0)

    def forward(self, x, s):  # x (M, p*p, w), s (M, D)
        x = self.input_proj(x)
        y = self.cond_embed(s).reshape(s.shape[0], self.p * self.p, -1)  # pixel q: cols q*w..
        for block in self.res_blocks:
            x = block(x, y)
        return self.final_layer(x)


class DeCoDecoder(nn.Module):
    def __init__(self, C, p, D, width=32, depth=3, max_freqs=8):
        super().__init__()
        self.C, self.p, self.D = C, p, D
        self.x_embedder = NerfEmbedder(C, width, max_freqs)
        self.dec_net = DecNet(C, p, D, width, depth)

    def forward(self, z, tokens, t_emb):
        B, C, H, W = z.shape
        p, L = self.p, tokens.shape[1]
        s = F.silu(t_emb[:, None, :] + tokens).reshape(B * L, self.D)  # silu(t + s)
        x = F.unfold(z, p, stride=p).transpose(1, 2)                   # (B, L, C*p*p)
        x = x.reshape(B * L, C, p * p).transpose(1, 2)                 # (B*L, p*p, C)
        x = self.dec_net(self.x_embedder(x), s)                        # (B*L, p*p, C)
        x = x.transpose(1, 2).reshape(B, L, -1)
        return F.fold(x.transpose(1, 2), (H, W), p, stride=p)


def count(m):
    return sum(q.numel() for q in m.parameters())


def linear_flops(m, image_size, C):
    """Forward FLOPs per image as the plugin counts them (its docs): every
    Linear as 2 * rows * in * out, with the x_embedder split into its pixel
    part (C columns, every pixel) and its position part (F*F columns, once
    per patch position)."""
    p, D = m.p, m.D
    w = m.dec_net.input_proj.weight.shape[0]
    F2 = m.x_embedder.max_freqs ** 2
    P, N = image_size * image_size, (image_size // p) ** 2
    f = 2 * N * D * p * p * w + 2 * P * C * w + 2 * p * p * F2 * w + 2 * P * w * w
    f += len(m.dec_net.res_blocks) * (2 * P * w * 3 * w + 4 * P * w * w)
    return f + 2 * P * w * C


# name: (image_size, C, p, D, B, width, depth, max_freqs)
CASES = {
    'deco_p4': (8, 1, 4, 16, 2, 8, 2, 8),      # the small preset's patch, grayscale
    'deco_p8': (16, 3, 8, 12, 1, 8, 3, 8),     # RGB, DeCo's 3 blocks
    'deco_p16': (16, 3, 16, 8, 2, 4, 1, 8),    # DeCo's own 16 x 16 patch: its position table
    'deco_p3_odd': (15, 3, 3, 12, 2, 6, 1, 5),  # odd patch, odd grid (5 x 5), odd F
}


def np32(t):
    return t.detach().numpy().astype('<f4')


@torch.no_grad()
def randomise(m):
    """DeCo zero-inits adaLN and the output; random values test every path."""
    for name, q in m.named_parameters():
        if 'adaLN_modulation' in name or 'final_layer' in name:
            q.copy_(torch.randn_like(q) * 0.3)
        elif 'in_ln' in name:
            q.copy_((1.0 if name.endswith('weight') else 0.0) + 0.2 * torch.randn_like(q))


def make_case(name, image_size, C, p, D, B, width, depth, max_freqs):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)
    m = DeCoDecoder(C, p, D, width, depth, max_freqs)
    randomise(m)
    N = (image_size // p) ** 2
    z = torch.randn(B, C, image_size, image_size)
    tokens = torch.randn(B, N, D).requires_grad_(True)
    t_emb = torch.randn(B, D).requires_grad_(True)
    out = m(z, tokens, t_emb)
    gy = torch.randn(out.shape)
    params = list(m.named_parameters())
    grads = torch.autograd.grad((out * gy).sum(), [q for _, q in params] + [tokens, t_emb])
    meta = dict(image_size=image_size, channels=C, patch_size=p, hidden_size=D, width=width,
                depth=depth, max_freqs=max_freqs, params=count(m), torch=torch.__version__)
    write_safetensors(os.path.join(OUT, name + '.weights.safetensors'),
                      [(n, np32(q)) for n, q in params], meta)
    data = [('z', np32(z)), ('tokens', np32(tokens)), ('t_emb', np32(t_emb)), ('out', np32(out)),
            ('gy', np32(gy)), ('dct', np32(m.x_embedder.position_table(p)))]
    names = [n for n, _ in params] + ['tokens', 't_emb']
    data += [('grad.' + n, np32(g)) for n, g in zip(names, grads)]
    write_safetensors(os.path.join(OUT, name + '.data.safetensors'), data, meta)
    print(f'{name}: {count(m)} parameters, out {tuple(out.shape)}')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        make_case(name, *args)
    # counts hard-coded in tests/unit/test_deco_decoder.c and docs/deco_decoder.md
    xl, large = DeCoDecoder(3, 16, 1152), DeCoDecoder(3, 16, 1024)
    small = DeCoDecoder(1, 4, 192)
    print('DeCo-XL decoder (C 3, p 16, D 1152, w 32, 3 blocks):', count(xl), 'parameters,',
          'cond_embed', count(xl.dec_net.cond_embed), ',', linear_flops(xl, 256, 3), 'FLOPs per 256^2 image')
    print('DeCo-L decoder (D 1024):', count(large))
    print('small preset decoder (C 1, p 4, D 192):', count(small), 'parameters,',
          linear_flops(small, 32, 1), 'FLOPs per 32^2 image')
    print('small, width 16 / 64:', count(DeCoDecoder(1, 4, 192, 16)), count(DeCoDecoder(1, 4, 192, 64)))


if __name__ == '__main__':
    main()
