#!/usr/bin/python3
"""my_decoder as a torch module, and the reference `pixeldit plugin-check`
compares the plugin against (the template's `parity` test):

    /usr/bin/python3 reference.py [PYTHONDIR]

PYTHONDIR holds pixeldit_reference.py (default: `pkg-config --variable=pythondir
pixeldit-plugin`). Writes my_decoder.ref.safetensors here; commit it, so the
tests need no Python. Change the module and the call for your plugin.
"""
import os
import subprocess
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class MyDecoder(nn.Module):
    """Linear per-token projection to p x p x C patches, JiT's unpatchify order."""

    def __init__(self, C, p, D):
        super().__init__()
        self.C, self.p = C, p
        self.proj = nn.Linear(D, p * p * C)   # the plugin's decoder.proj.*

    def forward(self, tokens, t_emb, y_emb, c, t, z):   # the decoder calling convention
        B, N, _ = tokens.shape
        g = int(round(N ** 0.5))
        x = self.proj(tokens).reshape(B, g, g, self.p, self.p, self.C)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(B, self.C, g * self.p, g * self.p)


def main():
    pythondir = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        ['pkg-config', '--variable=pythondir', 'pixeldit-plugin'],
        check=True, capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, pythondir)
    from pixeldit_reference import write_reference
    torch.set_num_threads(1)
    write_reference(os.path.join(HERE, 'my_decoder.ref.safetensors'), MyDecoder(3, 4, 16), 'decoder',
                    dict(image_size=8, channels=3, patch_size=4, hidden_size=16),
                    plugin='my_decoder', seed=3)


if __name__ == '__main__':
    main()
