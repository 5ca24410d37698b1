#!/usr/bin/python3
"""The gated_pixel_decoder as a torch module, and the reference file that
`pixeldit plugin-check` compares the C plugin against.

    /usr/bin/python3 reference.py [PYTHONDIR]

PYTHONDIR holds pixeldit_reference.py (default: `pkg-config --variable=pythondir
pixeldit-plugin`). Writes gated_pixel_decoder.ref.safetensors next to this
file (committed: the C side needs no Python). Debian's python3-torch.
"""
import os
import subprocess
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def unpatchify(x, channels, p):
    """(B, h*w, p*p*C) -> (B, C, h*p, w*p), token feature (py*p + px)*C + c (JiT's order)."""
    B, N, _ = x.shape
    h = w = int(round(N ** 0.5))
    x = x.reshape(B, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, channels, h * p, w * p)


class GatedPixelDecoder(nn.Module):
    """The plugin's forward; parameter names are the plugin's without "decoder."."""

    def __init__(self, C, p, D, features=8, hidden=16):
        super().__init__()
        self.C, self.p, self.K = C, p, features
        self.proj = nn.Linear(D, p * p * features)
        self.ff = nn.Conv2d(features, 2 * hidden, 1)
        self.out = nn.Conv2d(hidden, C, 3, padding=1)

    def forward(self, tokens, t_emb, y_emb, c, t, z):   # the decoder calling convention
        f = unpatchify(self.proj(tokens), self.K, self.p)   # (B, K, H, W)
        a, b = self.ff(f).chunk(2, dim=1)                   # (B, E, H, W) each
        return self.out(a * torch.sigmoid(b))               # (B, C, H, W)


def main():
    pythondir = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        ['pkg-config', '--variable=pythondir', 'pixeldit-plugin'],
        check=True, capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, pythondir)
    from pixeldit_reference import write_reference
    torch.set_num_threads(1)
    model = dict(image_size=8, channels=3, patch_size=4, hidden_size=16)
    keys = dict(features=6, hidden=5)
    m = GatedPixelDecoder(3, 4, 16, **keys)
    out = write_reference(os.path.join(HERE, 'gated_pixel_decoder.ref.safetensors'), m, 'decoder',
                          model, plugin='gated_pixel_decoder', config=keys, batch=2, seed=1)
    print('gated_pixel_decoder.ref.safetensors: output', tuple(out.shape))


if __name__ == '__main__':
    main()
