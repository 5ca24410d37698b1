#!/usr/bin/python3
"""Writes the PyTorch parity goldens under tests/golden/ (see README.md).

Run with Debian's python (torch 1.13): /usr/bin/python3 tests/golden/make_goldens.py

Every file holds, for one op case: the inputs (bare names: x, w, b, ...),
`out`, a random upstream gradient `gy` of out's shape, and `grad.<input>`
= d sum(out * gy) / d input from torch autograd. Metadata: "op", "inputs"
(comma-separated, in call order) and the op's attributes as strings.
Everything is computed in float32, as pixeldit computes it. Each case seeds
torch from a hash of its name, so adding a case changes no other file.
"""
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)  # deterministic reductions

# ---------------------------------------------------------------- writer ---

_DTYPES = {np.dtype('<f4'): 'F32', np.dtype('<f8'): 'F64', np.dtype('<i8'): 'I64',
           np.dtype('<i4'): 'I32', np.dtype('u1'): 'U8'}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray) in file order; metadata: dict str->str."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        arr = arr.astype(arr.dtype.newbyteorder('<'), copy=False)
        raw = arr.tobytes(order='C')  # (not ascontiguousarray: it turns shape () into (1,))
        header[name] = {'dtype': _DTYPES[arr.dtype], 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # data area 8-byte aligned, as the spec allows
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


# ---------------------------------------------------------------- cases ----

def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7fffffff)


def randn(*shape, scale=1.0):
    return torch.randn(shape, dtype=torch.float32) * scale


def away_from_zero(*shape):
    """Values in +-[0.5, 1.5): safe denominators."""
    sign = torch.where(torch.rand(*shape) < 0.5, -1.0, 1.0)
    return sign * (0.5 + torch.rand(*shape))


def save_case(subdir, name, op, inputs, fn, attrs=None, no_grad=()):
    """inputs: list of (name, tensor); float inputs not in no_grad get grads."""
    leaves = []
    for n, t in inputs:
        if t.is_floating_point() and n not in no_grad:
            t = t.detach().clone().requires_grad_(True)
        leaves.append((n, t))
    out = fn(*[t for _, t in leaves])
    gy = randn(*out.shape)  # shape () for scalar outputs
    (out * gy).sum().backward()
    tensors = [(n, t.detach().numpy()) for n, t in leaves]
    tensors += [('out', out.detach().numpy()), ('gy', gy.numpy())]
    tensors += [('grad.' + n, t.grad.numpy()) for n, t in leaves
                if t.is_floating_point() and t.grad is not None]
    meta = {'op': op, 'inputs': ','.join(n for n, _ in inputs), 'torch': torch.__version__}
    meta.update(attrs or {})
    os.makedirs(os.path.join(HERE, subdir), exist_ok=True)
    write_safetensors(os.path.join(HERE, subdir, name + '.safetensors'), tensors, meta)


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def op_case(name, op, make_inputs, fn, attrs=None, no_grad=()):
    seed_for(name)
    save_case('ops', name, op, make_inputs(), fn, attrs, no_grad)


@case
def gemm():
    op_case('linear', 'linear', lambda: [('x', randn(2, 3, 5)), ('w', randn(4, 5)), ('b', randn(4))],
            F.linear)
    op_case('linear_nobias', 'linear', lambda: [('x', randn(6, 5)), ('w', randn(3, 5))], F.linear)
    t = lambda m: m.transpose(-1, -2)
    mm = [('matmul', 0, (2, 3, 4), (2, 4, 5), lambda a, b: a @ b),
          ('matmul_ta', 1, (2, 4, 3), (2, 4, 5), lambda a, b: t(a) @ b),
          ('matmul_tb', 2, (2, 3, 4), (2, 5, 4), lambda a, b: a @ t(b)),
          ('matmul_tab', 3, (2, 4, 3), (2, 5, 4), lambda a, b: t(a) @ t(b)),
          ('matmul_shared', 0, (2, 3, 4), (4, 5), lambda a, b: torch.matmul(a, b)),
          ('matmul_4d_tb', 2, (2, 2, 3, 4), (2, 2, 5, 4), lambda a, b: a @ t(b))]
    for name, trans, sa, sb, f in mm:
        op_case(name, 'matmul', lambda: [('a', randn(*sa)), ('b', randn(*sb))], f,
                {'trans': trans})


@case
def elementwise():
    binary = {'add': torch.add, 'sub': torch.sub, 'mul': torch.mul, 'div': torch.div}
    for op, f in binary.items():
        den = away_from_zero if op == 'div' else randn
        op_case(op + '_bcast', op, lambda: [('a', randn(2, 3, 4)), ('b', den(3, 1))], f)
        op_case(op + '_same', op, lambda: [('a', randn(2, 3)), ('b', den(2, 3))], f)
        op_case(op + '_both', op, lambda: [('a', randn(2, 1, 4)), ('b', den(3, 1))], f)
    op_case('add_row', 'add', lambda: [('a', randn(2, 3, 4)), ('b', randn(4))], torch.add)
    op_case('div_lhs_bcast', 'div', lambda: [('a', randn(3, 1)), ('b', away_from_zero(2, 3, 4))],
            torch.div)
    op_case('affine', 'affine', lambda: [('x', randn(2, 3, 4))], lambda x: 1.5 * x + (-0.25),
            {'alpha': '1.5', 'beta': '-0.25'})


@case
def adaln():
    per_sample = lambda x, shift, scale: x * (1 + scale[:, None]) + shift[:, None]
    op_case('modulate_sample', 'modulate',
            lambda: [('x', randn(2, 5, 4)), ('shift', randn(2, 4)), ('scale', randn(2, 4))],
            per_sample)
    op_case('modulate_sample_4d', 'modulate',
            lambda: [('x', randn(2, 3, 2, 4)), ('shift', randn(2, 4)), ('scale', randn(2, 4))],
            lambda x, shift, scale: x * (1 + scale[:, None, None]) + shift[:, None, None])
    op_case('modulate_pixel', 'modulate',
            lambda: [('x', randn(2, 6, 4)), ('shift', randn(2, 6, 4)), ('scale', randn(2, 6, 4))],
            lambda x, shift, scale: x * (1 + scale) + shift)
    op_case('modulate_noshift', 'modulate', lambda: [('x', randn(2, 5, 4)), ('scale', randn(2, 4))],
            lambda x, scale: x * (1 + scale[:, None]))
    op_case('gated_residual_sample', 'gated_residual',
            lambda: [('x', randn(2, 5, 4)), ('gate', randn(2, 4)), ('h', randn(2, 5, 4))],
            lambda x, gate, h: x + gate[:, None] * h)
    op_case('gated_residual_pixel', 'gated_residual',
            lambda: [('x', randn(2, 6, 4)), ('gate', randn(2, 6, 4)), ('h', randn(2, 6, 4))],
            lambda x, gate, h: x + gate * h)


@case
def activations():
    op_case('silu', 'silu', lambda: [('x', randn(2, 3, 7, scale=3))], F.silu)
    op_case('gelu', 'gelu', lambda: [('x', randn(2, 3, 7, scale=3))], F.gelu, {'tanh': 0})
    op_case('gelu_tanh', 'gelu', lambda: [('x', randn(2, 3, 7, scale=3))],
            lambda x: F.gelu(x, approximate='tanh'), {'tanh': 1})

    def swiglu(x):
        x1, x2 = x.chunk(2, dim=-1)
        return F.silu(x1) * x2
    op_case('swiglu', 'swiglu', lambda: [('x', randn(2, 3, 8, scale=2))], swiglu)
    op_case('softmax', 'softmax', lambda: [('x', randn(2, 3, 7, scale=3))],
            lambda x: torch.softmax(x, dim=-1))


def rmsnorm(x, w, eps=1e-6):
    """JiT's RMSNorm: x * rsqrt(mean(x^2, -1) + eps) * w."""
    h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return h * w if w is not None else h


@case
def norms():
    op_case('rmsnorm', 'rmsnorm', lambda: [('x', randn(2, 3, 8)), ('w', 1 + randn(8, scale=0.5))],
            rmsnorm, {'eps': '1e-6'})
    op_case('rmsnorm_nw', 'rmsnorm', lambda: [('x', randn(4, 16, scale=2))],
            lambda x: rmsnorm(x, None), {'eps': '1e-6'})
    op_case('layernorm', 'layernorm',
            lambda: [('x', randn(2, 3, 8, scale=2) + 0.5), ('w', 1 + randn(8, scale=0.5)),
                     ('b', randn(8))],
            lambda x, w, b: F.layer_norm(x, (8,), w, b, eps=1e-6), {'eps': '1e-6'})
    op_case('layernorm_na', 'layernorm', lambda: [('x', randn(5, 12) - 1)],
            lambda x: F.layer_norm(x, (12,), eps=1e-6), {'eps': '1e-6'})


def sdpa(q, k, v, scale):
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


@case
def attention():
    op_case('sdpa', 'sdpa', lambda: [('q', randn(2, 2, 5, 4)), ('k', randn(2, 2, 6, 4)),
                                     ('v', randn(2, 2, 6, 4))],
            lambda q, k, v: sdpa(q, k, v, 0.5), {'scale': '0.5'})
    op_case('sdpa_scale', 'sdpa', lambda: [('q', randn(1, 2, 4, 8, scale=2)),
                                           ('k', randn(1, 2, 7, 8, scale=2)),
                                           ('v', randn(1, 2, 7, 8))],
            lambda q, k, v: sdpa(q, k, v, 0.3), {'scale': '0.3'})


def rope_tables(grid_h, grid_w, dim, n_prefix, theta=10000.0):
    """JiT / EVA VisionRotaryEmbeddingFast (freqs_for='lang') in float32:
    R = dim/2 frequencies-per-axis dims, omega_m = theta^(-2m/R); the first
    R dims follow the row index, the last R the column index; each angle is
    repeated for the two members of a pair. Prefix rows are the identity."""
    R = dim // 2
    omega = 1.0 / (theta ** (torch.arange(0, R, 2)[:R // 2].float() / R))
    rows = torch.arange(grid_h).float()[:, None] * omega[None]   # (gh, R/2)
    cols = torch.arange(grid_w).float()[:, None] * omega[None]   # (gw, R/2)
    rows = rows.repeat_interleave(2, dim=-1)                     # (gh, R)
    cols = cols.repeat_interleave(2, dim=-1)                     # (gw, R)
    ang = torch.cat([rows[:, None, :].expand(grid_h, grid_w, R),
                     cols[None, :, :].expand(grid_h, grid_w, R)], dim=-1).reshape(-1, dim)
    cos, sin = ang.cos(), ang.sin()
    cos = torch.cat([torch.ones(n_prefix, dim), cos])
    sin = torch.cat([torch.zeros(n_prefix, dim), sin])
    return cos, sin


def rotate_half(x):
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...) on adjacent pairs."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).reshape(x.shape)


def rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


@case
def rotary():
    for name, (gh, gw, d, pre, B, H) in {'rope': (2, 3, 8, 0, 2, 2),
                                         'rope_prefix': (4, 4, 8, 2, 2, 2),
                                         'rope_d12': (3, 2, 12, 1, 1, 2)}.items():
        cos, sin = rope_tables(gh, gw, d, pre)
        op_case(name, 'rope', lambda: [('x', randn(B, H, pre + gh * gw, d))],
                lambda x: rope(x, cos, sin),
                {'grid_h': gh, 'grid_w': gw, 'n_prefix': pre, 'theta': '10000'})


@case
def lookup_and_shape():
    op_case('embedding', 'embedding',
            lambda: [('table', randn(7, 4)), ('ids', torch.tensor([3, 0, 3, 6, 1], dtype=torch.int64))],
            lambda table, ids: F.embedding(ids, table))
    op_case('concat', 'concat',
            lambda: [('x0', randn(2, 1, 4)), ('x1', randn(2, 3, 4)), ('x2', randn(2, 2, 4))],
            lambda *xs: torch.cat(xs, dim=1), {'axis': 1})
    op_case('concat_last', 'concat', lambda: [('x0', randn(2, 3)), ('x1', randn(2, 1))],
            lambda *xs: torch.cat(xs, dim=-1), {'axis': -1})
    op_case('slice', 'slice', lambda: [('x', randn(2, 7, 4))], lambda x: x[:, 2:5],
            {'axis': 1, 'start': 2, 'len': 3})
    op_case('slice_last', 'slice', lambda: [('x', randn(3, 8))], lambda x: x[..., 5:8],
            {'axis': -1, 'start': 5, 'len': 3})
    op_case('permute', 'permute', lambda: [('x', randn(2, 3, 4, 5))], lambda x: x.permute(0, 2, 1, 3),
            {'perm': '0,2,1,3'})
    op_case('permute_mix', 'permute', lambda: [('x', randn(2, 3, 4, 5))],
            lambda x: x.permute(3, 1, 0, 2), {'perm': '3,1,0,2'})
    op_case('reshape', 'reshape', lambda: [('x', randn(2, 3, 4))], lambda x: x.reshape(6, -1),
            {'shape': '6,-1'})


def patchify_jit(img, p):
    """(B,C,H,W) -> (B, h*w, p*p*C), feature (py*p + px)*C + c."""
    B, C, H, W = img.shape
    x = img.reshape(B, C, H // p, p, W // p, p)
    x = torch.einsum('nchpwq->nhwpqc', x)
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify_jit(tok, C, H, W, p):
    """JiT's unpatchify: reshape (N,h,w,p,p,C), einsum 'nhwpqc->nchpwq'."""
    B = tok.shape[0]
    x = tok.reshape(B, H // p, W // p, p, p, C)
    x = torch.einsum('nhwpqc->nchpwq', x)
    return x.reshape(B, C, H, W)


@case
def patches():
    C, H, W, p = 3, 8, 12, 4
    attrs = {'p': p, 'C': C, 'H': H, 'W': W}
    op_case('patchify_jit', 'patchify', lambda: [('x', randn(2, C, H, W))],
            lambda x: patchify_jit(x, p), dict(attrs, layout='jit'))
    op_case('unpatchify_jit', 'unpatchify', lambda: [('x', randn(2, 6, p * p * C))],
            lambda x: unpatchify_jit(x, C, H, W, p), dict(attrs, layout='jit'))
    op_case('patchify_unfold', 'patchify', lambda: [('x', randn(2, C, H, W))],
            lambda x: F.unfold(x, p, stride=p).transpose(1, 2), dict(attrs, layout='unfold'))
    op_case('unpatchify_unfold', 'unpatchify', lambda: [('x', randn(2, 6, p * p * C))],
            lambda x: F.fold(x.transpose(1, 2), (H, W), p, stride=p), dict(attrs, layout='unfold'))


@case
def spatial():
    op_case('conv2d_s2', 'conv2d',
            lambda: [('x', randn(2, 3, 7, 9)), ('w', randn(4, 3, 3, 3, scale=0.3)), ('b', randn(4))],
            lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), {'stride': 2, 'pad': 1})
    op_case('conv2d_3x3', 'conv2d',
            lambda: [('x', randn(2, 3, 6, 5)), ('w', randn(5, 3, 3, 3, scale=0.3)), ('b', randn(5))],
            lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), {'stride': 1, 'pad': 1})
    op_case('conv2d_patch', 'conv2d',
            lambda: [('x', randn(2, 3, 8, 8)), ('w', randn(6, 3, 4, 4, scale=0.2))],
            lambda x, w: F.conv2d(x, w, None, stride=4), {'stride': 4, 'pad': 0})
    op_case('conv_transpose2x2', 'conv_transpose2x2',
            lambda: [('x', randn(2, 4, 3, 5)), ('w', randn(4, 3, 2, 2, scale=0.5)), ('b', randn(3))],
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2))
    op_case('maxpool2x2', 'maxpool2x2', lambda: [('x', randn(2, 3, 5, 7))],
            lambda x: F.max_pool2d(x, 2))
    for name, (shape, oh, ow, ac) in {'upsample_bilinear': ((2, 3, 4, 5), 7, 9, False),
                                      'upsample_bilinear_ac': ((2, 3, 4, 5), 7, 9, True),
                                      'downsample_bilinear': ((2, 2, 6, 7), 3, 4, False),
                                      'downsample_bilinear_ac': ((2, 2, 6, 7), 3, 4, True)}.items():
        op_case(name, 'upsample_bilinear', lambda: [('x', randn(*shape))],
                lambda x: F.interpolate(x, size=(oh, ow), mode='bilinear', align_corners=ac),
                {'out_h': oh, 'out_w': ow, 'align_corners': int(ac)})


@case
def maths():
    """Elementwise maths of host ABI 1.1; inputs kept inside each domain
    (the edges are unit-tested against the documented values)."""
    pos = lambda *shape: 0.2 + 2 * torch.rand(*shape)
    op_case('sqrt', 'sqrt', lambda: [('x', pos(2, 3, 5))], torch.sqrt)
    op_case('abs', 'abs', lambda: [('x', randn(2, 3, 5))], torch.abs)
    op_case('exp', 'exp', lambda: [('x', randn(2, 3, 5))], torch.exp)
    op_case('log', 'log', lambda: [('x', pos(2, 3, 5))], torch.log)
    op_case('tanh', 'tanh', lambda: [('x', randn(2, 3, 5, scale=2))], torch.tanh)
    op_case('sigmoid', 'sigmoid', lambda: [('x', randn(2, 3, 5, scale=3))], torch.sigmoid)
    op_case('clamp', 'clamp', lambda: [('x', randn(2, 3, 5, scale=2))],
            lambda x: torch.clamp(x, -0.5, 0.8), {'lo': '-0.5', 'hi': '0.8'})
    for name, e, make in (('pow2', '2', randn), ('pow3', '3', randn), ('pow1_5', '1.5', pos),
                          ('pow_neg0_5', '-0.5', pos)):
        op_case(name, 'pow', lambda: [('x', make(2, 3, 5))], lambda x: torch.pow(x, float(e)),
                {'exponent': e})


@case
def resampling():
    op_case('pixel_shuffle', 'pixel_shuffle', lambda: [('x', randn(2, 8, 3, 4))],
            lambda x: F.pixel_shuffle(x, 2), {'r': 2})
    op_case('pixel_shuffle_r3', 'pixel_shuffle', lambda: [('x', randn(1, 18, 2, 3))],
            lambda x: F.pixel_shuffle(x, 3), {'r': 3})
    op_case('pixel_unshuffle', 'pixel_unshuffle', lambda: [('x', randn(2, 2, 6, 4))],
            lambda x: F.pixel_unshuffle(x, 2), {'r': 2})
    op_case('upsample_nearest', 'upsample_nearest', lambda: [('x', randn(2, 3, 3, 4))],
            lambda x: F.interpolate(x, size=(6, 12), mode='nearest'), {'fh': 2, 'fw': 3})
    op_case('conv2d_grouped', 'conv2d_grouped',
            lambda: [('x', randn(2, 4, 6, 5)), ('w', randn(6, 2, 3, 3, scale=0.3)), ('b', randn(6))],
            lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1, groups=2),
            {'stride': 1, 'pad': 1, 'groups': 2})
    op_case('conv2d_depthwise', 'conv2d_grouped',
            lambda: [('x', randn(2, 3, 7, 6)), ('w', randn(6, 1, 3, 3, scale=0.3))],
            lambda x, w: F.conv2d(x, w, None, stride=2, padding=1, groups=3),
            {'stride': 2, 'pad': 1, 'groups': 3})


@case
def reductions():
    op_case('sum', 'sum', lambda: [('x', randn(2, 3, 4))], torch.sum)
    op_case('mean', 'mean', lambda: [('x', randn(2, 3, 4))], torch.mean)
    op_case('sum_axis', 'sum_axis', lambda: [('x', randn(2, 3, 4))], lambda x: x.sum(-1),
            {'axis': -1})
    op_case('mean_axis', 'mean_axis', lambda: [('x', randn(2, 3, 4))], lambda x: x.mean(1),
            {'axis': 1})
    op_case('mse', 'mse', lambda: [('a', randn(2, 3, 4)), ('b', randn(2, 3, 4))],
            lambda a, b: ((a - b) ** 2).mean())


# ------------------------------------------------------ JiT block golden ---

def jit_block(x, c, W, heads, cos, sin):
    """JiTBlock forward (jit.md 1.7), fp32 throughout."""
    B, N, D = x.shape
    hd = D // heads
    mod = F.linear(F.silu(c), W['adaLN_modulation.1.weight'], W['adaLN_modulation.1.bias'])
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=-1)
    modulate = lambda h, shift, scale: h * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)

    h = modulate(rmsnorm(x, W['norm1.weight']), shift_msa, scale_msa)
    qkv = F.linear(h, W['attn.qkv.weight'], W['attn.qkv.bias'])
    qkv = qkv.reshape(B, N, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = rope(rmsnorm(q, W['attn.q_norm.weight']), cos, sin)
    k = rope(rmsnorm(k, W['attn.k_norm.weight']), cos, sin)
    a = sdpa(q, k, v, 1.0 / math.sqrt(hd))
    a = a.transpose(1, 2).reshape(B, N, D)
    a = F.linear(a, W['attn.proj.weight'], W['attn.proj.bias'])
    x = x + gate_msa.unsqueeze(1) * a

    h = modulate(rmsnorm(x, W['norm2.weight']), shift_mlp, scale_mlp)
    x1, x2 = F.linear(h, W['mlp.w12.weight'], W['mlp.w12.bias']).chunk(2, dim=-1)
    m = F.linear(F.silu(x1) * x2, W['mlp.w3.weight'], W['mlp.w3.bias'])
    return x + gate_mlp.unsqueeze(1) * m


@case
def block():
    B, G, n_prefix, D, heads = 2, 4, 2, 32, 2
    hd, N = D // heads, n_prefix + G * G
    hidden = int(int(D * 4.0) * 2 / 3)
    seed_for('jit_block')
    lin = lambda o, i: randn(o, i, scale=1 / math.sqrt(i))
    # Random everywhere (adaLN too, unlike JiT's zero init) so every path carries signal.
    W = {'norm1.weight': 1 + randn(D, scale=0.3),
         'attn.qkv.weight': lin(3 * D, D), 'attn.qkv.bias': randn(3 * D, scale=0.1),
         'attn.q_norm.weight': 1 + randn(hd, scale=0.3),
         'attn.k_norm.weight': 1 + randn(hd, scale=0.3),
         'attn.proj.weight': lin(D, D), 'attn.proj.bias': randn(D, scale=0.1),
         'norm2.weight': 1 + randn(D, scale=0.3),
         'mlp.w12.weight': lin(2 * hidden, D), 'mlp.w12.bias': randn(2 * hidden, scale=0.1),
         'mlp.w3.weight': lin(D, hidden), 'mlp.w3.bias': randn(D, scale=0.1),
         'adaLN_modulation.1.weight': lin(6 * D, D),
         'adaLN_modulation.1.bias': randn(6 * D, scale=0.1)}
    cos, sin = rope_tables(G, G, hd, n_prefix)
    inputs = [('x', randn(B, N, D)), ('c', randn(B, D))] + list(W.items())
    names = [n for n, _ in inputs]

    def fn(x, c, *ws):
        return jit_block(x, c, dict(zip(names[2:], ws)), heads, cos, sin)
    save_case('blocks', 'jit_block', 'jit_block', inputs, fn,
              {'heads': heads, 'grid': G, 'n_prefix': n_prefix, 'eps': '1e-6',
               'theta': '10000', 'mlp_hidden': hidden})


def main():
    for make in CASES:
        make()
    total = 0
    for sub in ('ops', 'blocks'):
        d = os.path.join(HERE, sub)
        for f in sorted(os.listdir(d)):
            total += os.path.getsize(os.path.join(d, f))
    print('goldens written: %d bytes in total (torch %s)' % (total, torch.__version__),
          file=sys.stderr)


if __name__ == '__main__':
    main()
