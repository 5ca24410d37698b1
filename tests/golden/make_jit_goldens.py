#!/usr/bin/python3
"""Writes the whole-model JiT goldens under tests/golden/jit/ (see README.md).

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_jit_goldens.py

For each case <name>:
  <name>.weights.safetensors  every parameter of jit_reference.JiT under its
                              official name (pos_embed included) and nothing
                              else, so pixeldit loads it strictly with
                              pd_checkpoint_load_params(f, params, "").
  <name>.data.safetensors     one training step's loss and gradients:
      x (B,C,H,W) clean image, t (B), labels (B) I64, z = t x + (1 - t) e
      (the noise e itself is not needed), x_pred = JiT(z, t, labels),
      loss (the v-loss, scalar), grad.<param> = d loss / d param for every
      trainable parameter.
  <name>.sample.safetensors   z0 (S,C,H,W), labels (S) I64, and <run>
      (S,C,H,W): the final z of one sampler run from z0.
  Metadata of all three: the model config (pd_jit_config field names) and
  t_eps; the sample file also has, per run, "<run>" =
  "method,steps,cfg_scale,low,high".
tables.safetensors: fixed tables at JiT-B sizes (sin-cos pos_embed, timestep
  features, RoPE cos/sin) for the table checks.

Weights follow the spec's initialisation (jit.md 1.10) and are then
perturbed so that every path carries signal: the zero-initialised adaLN and
final-layer tensors get random values, as do all biases and the RMSNorm
weights (1 + noise), and the label / in-context / timestep embeddings are
scaled up so that labels and t visibly change the output (otherwise CFG
would barely differ from the conditional branch). Everything is float32 on
CPU with one thread; rerunning gives identical bytes.
"""
import os
import sys
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from jit_reference import JiT, JiTConfig, Rope2D, sample, sincos_pos_embed, timestep_features, v_loss  # noqa: E402
from make_goldens import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, 'jit')
T_EPS = 0.05
torch.set_num_threads(1)

CASES = {
    # 3 channels, 4 in-context tokens from block 1 (block 2 then runs with
    # the in-context RoPE table without inserting), head_dim 12.
    'jit_c3': JiTConfig(image_size=16, channels=3, patch_size=4, hidden_size=24, depth=3,
                        num_heads=2, bottleneck_dim=8, mlp_ratio=4.0, in_context_len=4,
                        in_context_start=1, num_classes=5),
    # 1 channel, no in-context tokens, head_dim 16, SwiGLU hidden
    # int(int(32 * 2.0) * 2/3) = 42 (the truncation matters).
    'jit_c1': JiTConfig(image_size=16, channels=1, patch_size=4, hidden_size=32, depth=2,
                        num_heads=2, bottleneck_dim=8, mlp_ratio=2.0, in_context_len=0,
                        in_context_start=0, num_classes=5),
}

# (method, steps, cfg_scale, (low, high)). Interval notes for the grids:
# steps 3 -> t = 0, 1/3, 2/3 (+1): t = 0 is outside (0.1, 1.0);
# steps 5 -> t = 0, .2, .4, .6, .8: (0.3, 0.7) leaves 0, .2 (below) and .8
# (above) unguided; low = 0 guides t = 0 too (the `low == 0` branch);
# (0.2, 0.8) puts both ends exactly on grid points (float32 0.2 and 0.8 equal
# linspace's values), which the strict float32 compares leave unguided.
SAMPLER_RUNS = {
    'euler3': ('euler', 3, 2.0, (0.1, 1.0)),
    'heun3': ('heun', 3, 2.0, (0.1, 1.0)),
    'heun5': ('heun', 5, 2.0, (0.3, 0.7)),
    'euler5_low0': ('euler', 5, 1.5, (0.0, 0.5)),
    'heun5_ties': ('heun', 5, 2.0, (0.2, 0.8)),
}


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)


@torch.no_grad()
def perturb(model):
    for name, p in model.named_parameters():
        if name == 'pos_embed':
            continue
        if 'adaLN_modulation' in name or name.startswith('final_layer.linear'):
            p.copy_(torch.randn_like(p) * (0.2 if name.endswith('weight') else 0.3))
        elif name.endswith('.bias'):
            p.copy_(torch.randn_like(p) * 0.1)
        elif 'norm' in name:
            p.copy_(1.0 + 0.1 * torch.randn_like(p))
        elif name in ('y_embedder.embedding_table.weight', 'in_context_posemb'):
            p.mul_(25.0)                       # std 0.02 -> 0.5
        elif name.startswith('t_embedder'):
            p.mul_(10.0)                       # std 0.02 -> 0.2


def meta_for(cfg):
    keys = ['image_size', 'channels', 'patch_size', 'hidden_size', 'depth', 'num_heads',
            'bottleneck_dim', 'mlp_ratio', 'in_context_len', 'in_context_start', 'num_classes']
    meta = {k: repr(getattr(cfg, k)) for k in keys}
    meta.update(t_eps=repr(T_EPS), torch=torch.__version__)
    return meta


def np32(t):
    return t.detach().numpy().astype('<f4')


def make_case(name, cfg):
    seed_for(name)
    model = JiT(cfg)
    perturb(model)
    model.eval()
    B, C, S = 3, cfg.channels, cfg.image_size
    x = torch.rand(B, C, S, S) * 2 - 1
    e = torch.randn(B, C, S, S)
    # a small t, a mid t, and one with 1 - t < t_eps (the clamp)
    t = torch.tensor([0.02, 0.45, 0.97])
    labels = torch.tensor([2, cfg.num_classes, 0])     # the middle one is the null class
    loss, z, x_pred = v_loss(model, x, t, e, labels, T_EPS)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in trainable])

    z0 = torch.randn(2, C, S, S)
    slabels = torch.tensor([1, 4])
    runs = {run: sample(model, z0, slabels, m, steps, w, iv, T_EPS)
            for run, (m, steps, w, iv) in SAMPLER_RUNS.items()}

    meta = meta_for(cfg)
    weights = [(n, np32(p)) for n, p in model.state_dict().items()]
    write_safetensors(os.path.join(OUT, name + '.weights.safetensors'), weights, meta)

    data = [('x', np32(x)), ('t', np32(t)), ('labels', labels.numpy().astype('<i8')),
            ('z', np32(z)), ('x_pred', np32(x_pred)), ('loss', np32(loss))]
    data += [('grad.' + n, np32(g)) for (n, _), g in zip(trainable, grads)]
    write_safetensors(os.path.join(OUT, name + '.data.safetensors'), data, meta)

    smp = [('z0', np32(z0)), ('labels', slabels.numpy().astype('<i8'))]
    smeta = dict(meta)
    for run, (m, steps, w, (lo, hi)) in SAMPLER_RUNS.items():
        smp.append((run, np32(runs[run])))
        smeta[run] = f'{m},{steps},{w!r},{lo!r},{hi!r}'
    write_safetensors(os.path.join(OUT, name + '.sample.safetensors'), smp, smeta)
    print(f'{name}: {sum(a.size for _, a in weights)} weights, loss {loss.item():.6g}, '
          f'|x_pred| max {x_pred.abs().max().item():.3g}')


def make_tables():
    """JiT-B sizes: grid 16, D 64 slice of the sin-cos table (the formula
    does not depend on D beyond D/4 frequencies), head_dim 64 RoPE with 2
    prefix rows, timestep features for t across [0, 1]."""
    pos = sincos_pos_embed(64, 16).astype(np.float32)              # float64 -> float32, as upstream
    t = torch.tensor([0.0, 1e-3, 0.02, 0.1, 0.5, 0.77, 0.98, 1.0])
    feats = timestep_features(t)
    rope = Rope2D(64, 16, 2)
    tensors = [('pos_embed.g16_d64', pos), ('t', np32(t)), ('t_features', np32(feats)),
               # the table repeats each angle twice (interleaved); keep one per pair
               ('rope.g16_hd64_p2.cos', np32(rope.cos[:, ::2])),
               ('rope.g16_hd64_p2.sin', np32(rope.sin[:, ::2]))]
    write_safetensors(os.path.join(OUT, 'tables.safetensors'), tensors,
                      {'torch': torch.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, cfg in CASES.items():
        make_case(name, cfg)
    make_tables()


if __name__ == '__main__':
    main()
