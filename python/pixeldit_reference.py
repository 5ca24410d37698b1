#!/usr/bin/python3
"""Writes a pixeldit reference file: what `pixeldit plugin-check` compares a
plugin against (format: include/pixeldit/parity.h, guide: docs/plugins.md).

Runs with Debian's /usr/bin/python3 and python3-torch. pixeldit never needs
Python at run time: this is for plugin authors, to check a C plugin against
the torch module it implements.

    import sys; sys.path.insert(0, '/usr/share/pixeldit/python')   # `pkg-config --variable=pythondir pixeldit-plugin`
    from pixeldit_reference import write_reference
    write_reference('my_decoder.ref.safetensors', MyDecoder(C=3, p=4, D=16), 'decoder',
                    model=dict(image_size=8, channels=3, patch_size=4, hidden_size=16),
                    plugin='my_decoder', config={'init_std': 0.5})

The calling convention per kind (the module's forward):
  decoder    forward(tokens, t_emb, y_emb, c, t, z) -> x_pred
             tokens (B, N, D), t_emb, y_emb, c (B, D), t (B,), z (B, C, H, W)
             -> (B, C, H, W). Parameter NAME is the plugin's "decoder.NAME"
             (param_prefix; or pass names={torch_name: plugin_name}).
  loss       forward(x_pred, x, z, t, v, v_pred, labels) -> scalar
             all (B, C, H, W) but t (B,) and labels (B,) int64; v and v_pred
             are made as pixeldit makes them: (x - z) / max(1 - t, t_eps),
             so the gradient reaches x_pred through v_pred.
  attention  forward(q, k, v, scale) -> (B, H, N, d); q (B, H, N, d), k, v (B, H, M, d).

Every parameter is drawn again (randomise='all', the default: N(0, std^2),
and 1 + N(0, 0.1^2) for names with 'norm'), so that zero-initialised
layers (adaLN-Zero, JiT's final layer) do not hide a path from the check;
randomise='zeros' redraws only all-zero ones, 'none' keeps the module's.
Inputs are drawn from a seeded generator unless given. The reference is
computed in float64 from the float32-rounded inputs and parameters, so it
is more exact than either float32 implementation.
"""
import json
import os
import struct

import torch

KINDS = ('decoder', 'loss', 'attention')
_DT = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32'}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, torch.Tensor); metadata: dict of str."""
    header, chunks, at = {}, [], 0
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': _DT[t.dtype], 'shape': list(t.shape), 'data_offsets': [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


@torch.no_grad()
def randomise_parameters(module, mode='all', std=0.3, generator=None):
    """Redraws parameters in float32 (see the module's docstring)."""
    for name, q in module.named_parameters():
        if mode == 'none' or (mode == 'zeros' and bool(q.ne(0).any())):
            continue
        r = torch.randn(q.shape, generator=generator, dtype=torch.float32)
        q.copy_(1.0 + 0.1 * r if 'norm' in name else std * r)


def _inputs(kind, model, batch, g, t_eps):
    S, C = model['image_size'], model['channels']
    f32 = dict(generator=g, dtype=torch.float32)
    if kind == 'decoder':
        N, D = (S // model['patch_size']) ** 2, model['hidden_size']
        return dict(tokens=torch.randn(batch, N, D, **f32), t_emb=torch.randn(batch, D, **f32),
                    y_emb=torch.randn(batch, D, **f32), c=torch.randn(batch, D, **f32),
                    t=torch.rand(batch, **f32), z=torch.randn(batch, C, S, S, **f32))
    if kind == 'loss':
        return dict(x_pred=torch.randn(batch, C, S, S, **f32), x=torch.rand(batch, C, S, S, **f32) * 2 - 1,
                    z=torch.randn(batch, C, S, S, **f32), t=torch.rand(batch, **f32) * 0.9,
                    labels=torch.randint(0, model.get('num_classes', 10) + 1, (batch,), generator=g))
    H = model.get('num_heads', 1)
    d = model['hidden_size'] // H
    N = (S // model['patch_size']) ** 2
    return dict(q=torch.randn(batch, H, N, d, **f32), k=torch.randn(batch, H, N, d, **f32),
                v=torch.randn(batch, H, N, d, **f32))


DIFFERENTIABLE = {'decoder': ('tokens', 't_emb', 'y_emb', 'c'), 'loss': ('x_pred',),
                  'attention': ('q', 'k', 'v')}


def write_reference(path, module, kind, model, plugin=None, config=None, inputs=None, batch=2,
                    seed=0, randomise='all', param_std=0.3, param_prefix='decoder.', names=None,
                    scale=None, dtype=torch.float64):
    """Runs module forward and backward and writes the reference file.

    model: image_size, channels, patch_size, hidden_size [, num_heads,
    depth, num_classes, t_eps, noise_scale], as pixeldit's pd_model_info.
    config: the plugin's keys the module was built with ({key: value}),
    applied by plugin-check before its own --set. Returns the output."""
    if kind not in KINDS:
        raise ValueError(f'kind {kind!r}: expected one of {KINDS}')
    g = torch.Generator().manual_seed(seed)
    randomise_parameters(module, randomise, param_std, g)
    t_eps = float(model.get('t_eps', 0.05))
    x = dict(_inputs(kind, model, batch, g, t_eps))
    x.update(inputs or {})
    module = module.to(dtype)
    wide = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in x.items()}
    for k in DIFFERENTIABLE[kind]:
        wide[k].requires_grad_(True)
    if kind == 'decoder':
        out = module(wide['tokens'], wide['t_emb'], wide['y_emb'], wide['c'], wide['t'], wide['z'])
    elif kind == 'loss':
        inv = 1.0 / torch.clamp(1.0 - wide['t'], min=t_eps).view(-1, 1, 1, 1)
        v = (wide['x'] - wide['z']) * inv
        v_pred = (wide['x_pred'] - wide['z']) * inv
        out = module(wide['x_pred'], wide['x'], wide['z'], wide['t'], v, v_pred, wide['labels'])
        if out.numel() != 1:
            raise ValueError(f'a loss returns one value, this one {tuple(out.shape)}')
    else:
        if scale is None:
            scale = wide['q'].shape[-1] ** -0.5
        out = module(wide['q'], wide['k'], wide['v'], scale)
    params = [(n, q) for n, q in module.named_parameters() if q.requires_grad]
    gy = None if kind == 'loss' else torch.randn(out.shape, generator=g, dtype=torch.float32)
    L = out.sum() if gy is None else (out * gy.to(dtype)).sum()
    diff = [wide[k] for k in DIFFERENTIABLE[kind]] + [q for _, q in params]
    grads = torch.autograd.grad(L, diff, allow_unused=True)

    def pname(n):
        return names[n] if names and n in names else param_prefix + n
    f32 = lambda t: t.detach().to(torch.float32)  # noqa: E731
    tensors = [('input.' + k, v if not v.is_floating_point() else f32(v)) for k, v in x.items()]
    tensors += [('param.' + pname(n), f32(q)) for n, q in module.named_parameters()]
    tensors.append(('output', f32(out)))
    if gy is not None:
        tensors.append(('grad_output', gy))
    keys = [f'input.{k}' for k in DIFFERENTIABLE[kind]] + [f'param.{pname(n)}' for n, _ in params]
    for key, gr, ref in zip(keys, grads, diff):
        tensors.append(('grad.' + key, f32(gr if gr is not None else torch.zeros_like(ref))))
    meta = {'pixeldit_reference': '1', 'kind': kind, 'torch': torch.__version__}
    if plugin:
        meta['plugin'] = plugin
    for k in ('image_size', 'channels', 'patch_size', 'hidden_size', 'num_heads', 'depth',
              'num_classes', 't_eps', 'noise_scale'):
        if k in model:
            meta[k] = model[k]
    if config:
        meta['config'] = ''.join(f'{k} = {str(v).lower() if isinstance(v, bool) else v}\n'
                                 for k, v in config.items())
    if kind == 'attention':
        meta['scale'] = repr(float(scale))
    write_safetensors(path, tensors, meta)
    return out
