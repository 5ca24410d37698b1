#!/usr/bin/python3
"""PyTorch peer of `pixeldit bench`: the same JiT, config, batch, threads,
training step, timing protocol and sampler, in torch 1.13 eager fp32.
Plugin configs ([decoder] unet_decoder, deco_decoder, bilinear_head,
pixeldit_decoder; [loss] v_loss plus freq_loss) run the PyTorch references
their goldens come from (tests/golden/make_*_goldens.py) in place of JiT's
final layer and beside the v-loss. `[config] base` chains are followed.

    /usr/bin/python3 bench/torch_peer.py configs/bench-s.ini [--set k=v ...]
        [--batch B] [--steps N] [--warmup W] [--threads T] [--sample-steps S]
        [--sample-batch SB] [--sample-reps R] [--no-peak] [--json FILE] [--quiet]

The model, v-loss and sampler are imported from tests/golden/jit_reference.py
(the exact PyTorch JiT pixeldit's parity tests use). A training step is
pixeldit's: logit-normal t, noise, label drop, v-loss, backward, AdamW
(decay on rank >= 2 weights only, as pd_params_decays), two EMA updates.
Timings: `warmup` untimed calls, then the median and minimum of `steps`.
GFLOP/s use the same analytic count as pd_jit_flops_per_image (training =
3x forward). Sampling uses jit_reference.sample, which (as upstream JiT)
evaluates the null class at every step; pixeldit skips it where the guidance
weight is 1, so evaluations per image are printed for both.
"""
import argparse
import configparser
import ctypes
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ------------------------------------------------------------ config ------

# pd_config_defaults() (core/config/config_schema.c) for the keys used here.
DEFAULTS = {
    'model': {'preset': '', 'image_size': 256, 'channels': 3, 'patch_size': 16, 'hidden_size': 768,
              'depth': 12, 'num_heads': 12, 'bottleneck_dim': 128, 'mlp_ratio': 4.0,
              'in_context_len': 32, 'in_context_start': 4, 'num_classes': 1000,
              'proj_dropout': 0.0, 'attn_dropout': 0.0},
    'diffusion': {'P_mean': -0.8, 'P_std': 0.8, 'noise_scale': 1.0, 't_eps': 0.05,
                  'label_drop_prob': 0.1},
    'train': {'batch_size': 64, 'lr': 0.0, 'blr': 5e-5, 'weight_decay': 0.0, 'beta1': 0.9,
              'beta2': 0.95, 'adam_eps': 1e-8, 'grad_clip': 0.0, 'ema_decay1': 0.9999,
              'ema_decay2': 0.9996, 'seed': 0, 'threads': 0, 'precision': 'fp32'},
    'sample': {'sampler': 'heun', 'steps': 50, 'cfg': 3.0, 'cfg_interval_low': 0.1,
               'cfg_interval_high': 1.0, 'seed': 0},
}

# core/config/config_presets.c: the small CPU models (JiT ones come from jit_reference).
SMALL_CPU = {'image_size': 32, 'channels': 1, 'patch_size': 4, 'hidden_size': 192, 'depth': 6,
             'num_heads': 3, 'bottleneck_dim': 32, 'mlp_ratio': 4.0, 'in_context_len': 8,
             'in_context_start': 2, 'num_classes': 10, 'proj_dropout': 0.0, 'attn_dropout': 0.0}


def preset_model(name):
    from jit_reference import CONFIGS
    if name in ('small', 'bench-s'):
        return dict(SMALL_CPU)
    if name in CONFIGS:
        c = CONFIGS[name]
        return {k: getattr(c, k) for k in SMALL_CPU}
    sys.exit(f'torch_peer: unknown [model] preset {name!r}')


def apply_layer(cfg, layer):
    """One layer {(section, key): text}: the preset first, then the rest (as pd_config)."""
    if ('model', 'preset') in layer:
        cfg['model'].update(preset_model(layer[('model', 'preset')]))
        cfg['model']['preset'] = layer[('model', 'preset')]
    for (sec, key), text in layer.items():
        if (sec, key) == ('model', 'preset') or sec not in cfg or key not in cfg[sec]:
            continue  # keys this peer does not need ([data], plugins, bookkeeping)
        old = cfg[sec][key]
        if isinstance(old, bool):
            cfg[sec][key] = text.lower() in ('1', 'true', 'yes', 'on')
        elif isinstance(old, int):
            cfg[sec][key] = int(text)
        elif isinstance(old, float):
            cfg[sec][key] = float(text)
        else:
            cfg[sec][key] = text


PLUGIN_SECTIONS = ('decoder', 'loss', 'attention')


def read_layers(path, depth=0):
    """The layers of a config file, its `[config] base` chain first."""
    ini = configparser.ConfigParser(inline_comment_prefixes=(';', '#'), strict=False)
    ini.optionxform = str  # keys are case-sensitive (P_mean)
    if not ini.read(path):
        sys.exit(f'torch_peer: cannot read {path}')
    layers = []
    if ini.has_option('config', 'base'):
        if depth > 8:
            sys.exit(f'torch_peer: {path}: [config] base chain deeper than 8')
        layers = read_layers(os.path.join(os.path.dirname(path), ini.get('config', 'base')), depth + 1)
    layers.append({(s, k): v for s in ini.sections() if s != 'config' for k, v in ini[s].items()})
    return layers


def apply_plugins(cfg, layer):
    """[decoder], [loss], [attention]: a new `plugin` drops the keys of the old one."""
    for sec in PLUGIN_SECTIONS:
        keys = {k: v for (s, k), v in layer.items() if s == sec}
        if 'plugin' in keys and keys['plugin'] != cfg[sec].get('plugin'):
            cfg[sec] = {}
        cfg[sec].update(keys)


def load_config(path, sets):
    cfg = {s: dict(v) for s, v in DEFAULTS.items()}
    cfg.update({'decoder': {'plugin': 'jit_final_layer'}, 'loss': {'plugin': 'v_loss'},
                'attention': {'plugin': 'sdpa'}})
    for layer in read_layers(path):
        apply_layer(cfg, layer)
        apply_plugins(cfg, layer)
    layer = {}
    for a in sets:
        sk, _, v = a.partition('=')
        sec, _, key = sk.partition('.')
        if not _ or not key:
            sys.exit(f'torch_peer: --set {a}: expected section.key=value')
        layer[(sec.strip(), key.strip())] = v.strip()
    apply_layer(cfg, layer)
    apply_plugins(cfg, layer)
    if cfg['model']['attn_dropout'] != 0:
        sys.exit('torch_peer: attn_dropout must be 0 (as in pixeldit)')
    return cfg


def jit_config(cfg):
    from jit_reference import JiTConfig
    return JiTConfig(**{k: cfg['model'][k] for k in SMALL_CPU})


# ----------------------------------------------------------- plugins ------

def truth(text):
    return str(text).lower() in ('1', 'true', 'yes', 'on')


def make_decoder(cfg, jc):
    """The decoder's PyTorch reference, its call and its forward FLOPs per
    image (as the golden scripts count them); None for jit_final_layer."""
    d = cfg['decoder']
    name = d.get('plugin', 'jit_final_layer')
    C, p, D, S = jc.channels, jc.patch_size, jc.hidden_size, jc.image_size
    N = (S // p) ** 2
    if name == 'jit_final_layer':
        return None
    if name == 'unet_decoder':
        import make_unet_goldens as g
        head = g.UNetHead(C, p, D, width=int(d.get('base_width', 64)), stages=int(d.get('stages', 0)),
                          max_width_mult=int(d.get('max_width_mult', 8)), mode=d.get('mode', 'replace'))
        f = g.conv_flops(head, S)
        if head.mode == 'residual':
            f += 2 * N * D * p * p * C + 2 * D * 2 * D
        return name, head, lambda z, tok, t_emb, c: head(z, tok, t_emb, c), f
    if name == 'deco_decoder':
        import make_deco_goldens as g
        head = g.DeCoDecoder(C, p, D, width=int(d.get('width', 32)), depth=int(d.get('depth', 3)),
                             max_freqs=int(d.get('max_freqs', 8)))
        return name, head, lambda z, tok, t_emb, c: head(z, tok, t_emb), g.linear_flops(head, S, C)
    if name == 'bilinear_head':
        import make_bilinear_goldens as g
        k, ker, gm = int(d.get('k', 4)), int(d.get('kernel', 3)), int(d.get('grid_mult', 1))
        res = truth(d.get('residual', 'true'))
        head = g.BilinearHead(C, p, D, k=k, kernel=ker, residual=res,
                              align_corners=truth(d.get('align_corners', 'false')), grid_mult=gm)
        K = C * k  # final-layer modulation, proj, the refine conv, the residual's linear
        f = 2 * D * 2 * D + 2 * N * D * gm * gm * K + 2 * S * S * C * (K + (C if res else 0)) * ker * ker
        f += 2 * N * D * p * p * C if res else 0
        return name, head, lambda z, tok, t_emb, c: head(tok, c), f
    if name == 'pixeldit_decoder':
        import make_pixeldit_goldens as g
        keys = {k: d[k] for k in g.DEFAULT_KEYS if k in d}
        for k, v in list(keys.items()):
            dv = g.DEFAULT_KEYS[k]
            keys[k] = truth(v) if isinstance(dv, bool) else type(dv)(v)
        head, _ = g.build(C, S, p, D, jc.num_heads, keys)
        return name, head, lambda z, tok, t_emb, c: head(z, tok, t_emb), g.flops(head)
    sys.exit(f'torch_peer: no PyTorch reference for [decoder] plugin {name!r}')


def make_losses(cfg):
    """[(name, weight, fn(v_pred, v) -> scalar)], v_loss first."""
    spec = cfg['loss']
    names = [n.strip() for n in spec.get('plugin', 'v_loss').split(',') if n.strip()]
    out = []
    for n in names:
        w = float(spec.get(f'{n}.weight', 1.0))
        if n == 'v_loss':
            out.append((n, w, lambda vp, v: ((v - vp) ** 2).mean(dim=(1, 2, 3)).mean()))
        elif n == 'freq_loss':
            import make_freq_goldens as g
            q, gam = int(spec.get('freq_loss.quality', 85)), float(spec.get('freq_loss.gamma', 1.0))
            out.append((n, w, lambda vp, v, q=q, gam=gam: g.freq_loss(vp, v, q, gam)))
        else:
            sys.exit(f'torch_peer: no PyTorch reference for [loss] plugin {n!r}')
    if cfg['attention'].get('plugin', 'sdpa') not in ('sdpa', 'flash_attn'):
        sys.exit(f"torch_peer: no PyTorch reference for [attention] plugin {cfg['attention']['plugin']!r}")
    return out


def with_decoder(JiT, jc, dec):
    """JiT whose last tokens go to the decoder instead of the final layer."""
    import torch
    import torch.nn as nn

    class PluginJiT(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = jc
            self.jit = JiT(jc)
            self.jit.final_layer = None  # replaced (its parameters are not counted)
            self.decoder = dec[1]

        def forward(self, z, t, labels):
            m, L = self.jit, jc.in_context_len
            t_emb = m.t_embedder(t)
            y_emb = m.y_embedder(labels)
            c = t_emb + y_emb
            x = m.x_embedder(z) + m.pos_embed
            for i, block in enumerate(m.blocks):
                if L > 0 and i == jc.in_context_start:
                    ict = y_emb.unsqueeze(1).repeat(1, L, 1) + m.in_context_posemb
                    x = torch.cat([ict, x], dim=1)  # (B, L + N, D)
                x = block(x, c, m.rope if i < jc.in_context_start else m.rope_incontext)
            return dec[2](z, x[:, L:], t_emb, c)

    return PluginJiT()


def flops_per_image(c, decoder_flops=None):
    """pd_jit_flops_per_image with sdpa and the jit_final_layer decoder, or
    with the decoder's own count in place of the final layer's."""
    D, N, L, hid = c.hidden_size, c.grid ** 2, c.in_context_len, c.mlp_hidden
    p2c = c.channels * c.patch_size ** 2
    f = 2 * N * (p2c * c.bottleneck_dim + c.bottleneck_dim * D) + 2 * (256 * D + D * D)
    for i in range(c.depth):
        n = N + (L if L > 0 and i >= c.in_context_start else 0)
        f += 2 * D * 6 * D + 2 * n * D * 4 * D + 4 * n * n * D + 2 * n * D * 2 * hid + 2 * n * hid * D
    if decoder_flops is not None:
        return f + decoder_flops
    return f + 2 * D * 2 * D + 2 * N * D * p2c


# ------------------------------------------------------------- torch ------

def blas_info():
    """The OpenBLAS torch loaded and its kernel name (from /proc/self/maps)."""
    libs = sorted({ln.split()[-1] for ln in open('/proc/self/maps') if 'openblas' in ln and '.so' in ln})
    for lib in libs:
        try:
            fn = ctypes.CDLL(lib).openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode(), lib
        except (OSError, AttributeError):
            continue
    return 'unknown', ','.join(libs) or 'no OpenBLAS loaded'


def set_blas_threads(n):
    for ln in open('/proc/self/maps'):
        if 'openblas' in ln and '.so' in ln:
            try:
                ctypes.CDLL(ln.split()[-1]).openblas_set_num_threads(n)
                return
            except (OSError, AttributeError):
                pass


def timed(fn, warmup, steps, progress=None):
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
        if progress:
            progress(i + 1, warmup + steps)
    return {'n': len(times), 'median_s': statistics.median(times), 'min_s': min(times)}


def sgemm_peak(torch, m, n, k, reps=3):
    """Best GFLOP/s of C (m, n) = A (m, k) @ B (n, k)^T, the first call untimed."""
    a, b = torch.rand(m, k) * 2 - 1, torch.rand(n, k) * 2 - 1
    best = 0.0
    for r in range(reps + 1):
        t0 = time.perf_counter()
        torch.nn.functional.linear(a, b)
        dt = time.perf_counter() - t0
        if r > 0:
            best = max(best, 2.0 * m * n * k / dt * 1e-9)
    return {'m': m, 'n': n, 'k': k, 'gflops': best}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config')
    ap.add_argument('--set', action='append', default=[], dest='sets')
    ap.add_argument('--batch', type=int, default=0)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int, default=-1, help='default: [train] threads (0 = all cores)')
    ap.add_argument('--sample-steps', type=int, default=-1, help='0 = skip sampling')
    ap.add_argument('--sample-batch', type=int, default=0)
    ap.add_argument('--sample-reps', type=int, default=1)
    ap.add_argument('--precision', choices=['fp32', 'bf16'],
                    help="default: [train] precision (bf16 = torch.autocast('cpu', torch.bfloat16) "
                         "around the forward passes and losses; bf16-emulated runs fp32 here)")
    ap.add_argument('--no-peak', action='store_true')
    ap.add_argument('--json')
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.sample_reps < 1:
        ap.error('--steps and --sample-reps must be >= 1, --warmup >= 0')

    sys.path.insert(0, os.path.join(ROOT, 'tests', 'golden'))
    cfg = load_config(args.config, args.sets)
    threads = args.threads if args.threads >= 0 else cfg['train']['threads']
    if threads <= 0:
        threads = os.cpu_count() or 1
    # OpenBLAS (pthread build, its own pool) reads this when it loads.
    os.environ['OPENBLAS_NUM_THREADS'] = str(threads)
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))
    import torch
    from jit_reference import JiT, sample, v_loss, velocity
    torch.set_num_threads(threads)
    set_blas_threads(threads)

    jc = jit_config(cfg)
    tr, df, sm = cfg['train'], cfg['diffusion'], cfg['sample']
    # pixeldit's bench runs every product at [train] precision; the peer's
    # counterpart is CPU autocast, which casts each matmul's operands to
    # bf16 (weights re-cast per op, as pixeldit re-rounds them) and keeps
    # norms, softmax, losses and the optimizer in fp32
    precision = args.precision or ('bf16' if tr['precision'] == 'bf16' else 'fp32')

    def autocast():
        return torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16')
    B = args.batch or tr['batch_size']
    SB = args.sample_batch or B
    torch.manual_seed(tr['seed'])
    dec = make_decoder(cfg, jc)
    losses = make_losses(cfg)
    torch.set_num_threads(threads)  # the golden scripts pin 1 thread when imported
    model = JiT(jc) if dec is None else with_decoder(JiT, jc, dec)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2 and not n.endswith('.bias')]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and not (p.ndim >= 2 and not n.endswith('.bias'))]
    lr = tr['lr'] if tr['lr'] > 0 else tr['blr'] * B / 256
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': tr['weight_decay']},
                             {'params': no_decay, 'weight_decay': 0.0}],
                            lr=lr, betas=(tr['beta1'], tr['beta2']), eps=tr['adam_eps'], foreach=True)
    all_params = list(model.parameters())
    emas = [([p.detach().clone() for p in all_params], tr['ema_decay1']),
            ([p.detach().clone() for p in all_params], tr['ema_decay2'])]

    S, C = jc.image_size, jc.channels
    x = torch.rand(B, C, S, S) * 2 - 1          # synthetic images in [-1, 1]
    labels = torch.arange(B) % jc.num_classes
    interactive = not args.quiet and sys.stderr.isatty()

    def show(phase):
        if not interactive:
            return None
        return lambda d, n: print(f'\rbench: {phase:<8} {d}/{n}   ', end='', file=sys.stderr, flush=True)

    last = {}

    def train_loss(t, e, y):
        if len(losses) == 1 and losses[0][:2] == ('v_loss', 1.0):
            loss, _, _ = v_loss(model, x, t, e, y, df['t_eps'])
        else:  # v_loss's arithmetic, then every loss on (v_pred, v)
            t4 = t.view(-1, 1, 1, 1)
            z = t4 * x + (1 - t4) * e
            v = velocity(x, z, t, df['t_eps'])
            v_pred = velocity(model(z, t, y), z, t, df['t_eps'])
            loss = sum(w * fn(v_pred.float(), v) for _, w, fn in losses)
        return loss.float()

    def train_step():
        t = torch.sigmoid(torch.randn(B) * df['P_std'] + df['P_mean'])
        e = torch.randn_like(x) * df['noise_scale']
        drop = torch.rand(B) < df['label_drop_prob']
        y = torch.where(drop, torch.full_like(labels, jc.num_classes), labels)
        with autocast():
            loss = train_loss(t, e, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr['grad_clip'] > 0:
            torch.nn.utils.clip_grad_norm_(params, tr['grad_clip'])
        opt.step()
        with torch.no_grad():
            for ema, d in emas:   # ema = d * ema + (1 - d) * param
                torch._foreach_mul_(ema, d)
                torch._foreach_add_(ema, all_params, alpha=1 - d)
        last['loss'] = loss.item()

    model.train()
    res_train = timed(train_step, args.warmup, args.steps, show('train'))
    model.eval()
    tf = (torch.arange(B, dtype=torch.float32) + 1) / (B + 1)

    def forward():
        with torch.no_grad(), autocast():
            model(x, tf, labels)

    res_fwd = timed(forward, args.warmup, args.steps, show('forward'))

    steps = args.sample_steps if args.sample_steps >= 0 else sm['steps']
    res_sample = {'n': 0, 'median_s': 0.0, 'min_s': 0.0}
    evals = [0]
    if steps > 0:
        hook = model.register_forward_pre_hook(lambda m, inp: evals.__setitem__(0, evals[0] + inp[0].shape[0]))
        g = torch.Generator().manual_seed(sm['seed'])
        slabels = torch.arange(SB) % jc.num_classes

        def run_sample():
            z0 = torch.randn(SB, C, S, S, generator=g) * df['noise_scale']
            with autocast():
                sample(model, z0, slabels, sm['sampler'], steps, sm['cfg'],
                       (sm['cfg_interval_low'], sm['cfg_interval_high']), df['t_eps'])

        res_sample = timed(run_sample, 0, args.sample_reps, show('sample'))
        hook.remove()
        evals[0] /= args.sample_reps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if not args.no_peak:
        grid = S // jc.patch_size
        peak = {'square': sgemm_peak(torch, 2048, 2048, 2048),
                'model': sgemm_peak(torch, B * (grid * grid + jc.in_context_len), 2 * jc.mlp_hidden,
                                    jc.hidden_size)}
    else:
        peak = {'square': {'m': 0, 'n': 0, 'k': 0, 'gflops': 0}, 'model': {'m': 0, 'n': 0, 'k': 0, 'gflops': 0}}
    if interactive:
        print('\r' + ' ' * 40 + '\r', end='', file=sys.stderr)

    fpi = flops_per_image(jc, dec[3] if dec else None)
    core, lib = blas_info()
    pk = peak['square']['gflops']

    def finish(r, images, flops):
        if r['n']:
            r['images_per_s'] = images / r['median_s']
            r['images_per_s_best'] = images / r['min_s']
            r['gflops'] = flops / r['median_s'] * 1e-9
        else:
            r.update(images_per_s=0.0, images_per_s_best=0.0, gflops=0.0)
        r['mfu'] = r['gflops'] / pk if pk > 0 else 0.0
        return r

    out = {
        'side': 'torch', 'config': args.config, 'preset': cfg['model']['preset'],
        'decoder': cfg['decoder'].get('plugin'), 'losses': [n for n, _, _ in losses],
        'params': sum(p.numel() for p in params), 'batch': B, 'threads': threads,
        'blas_core': core, 'blas_lib': lib, 'openblas_coretype': os.environ.get('OPENBLAS_CORETYPE'),
        'torch': torch.__version__, 'precision': precision, 'flops_per_image': fpi, 'train_flops_factor': 3,
        'train': finish(res_train, B, 3 * fpi * B),
        'forward': finish(res_fwd, B, fpi * B),
        'sample': finish(res_sample, SB, fpi * evals[0]),
        'peak': peak, 'peak_rss_mib': rss, 'last_loss': last.get('loss', 0.0),
    }
    out['sample'].update(steps=steps if steps > 0 else 0, batch=SB, evals_per_image=evals[0] / SB)
    if args.json != '-':
        report(out, cfg)
    if args.json:
        text = json.dumps(out, indent=2)
        if args.json == '-':
            print(text)
        else:
            with open(args.json, 'w') as f:
                f.write(text + '\n')


def report(o, cfg):
    print(f"torch_peer {o['config']}: {o['preset'] or 'custom model'}, decoder {o['decoder']}, "
          f"loss {' + '.join(o['losses'])}, {o['params']} trainable parameters, "
          f"batch {o['batch']}, {o['threads']} threads, {o['precision']}, torch {o['torch']}, OpenBLAS core {o['blas_core']} "
          f"(OPENBLAS_CORETYPE={o['openblas_coretype'] or 'unset'})")
    print(f"forward FLOPs per image {o['flops_per_image'] * 1e-9:.4f} GFLOP (analytic; a training step "
          f"counts as 3x forward)")
    pk = o['peak']['square']['gflops']

    def line(name, what, r):
        s = (f"{name:<8} {what:<34} median {r['median_s']:8.4f} s  min {r['min_s']:8.4f} s  "
             f"{r['images_per_s']:9.2f} img/s (best {r['images_per_s_best']:.2f})  {r['gflops']:7.2f} GFLOP/s")
        if pk > 0:
            s += f"  MFU {100 * r['mfu']:5.1f}%"
        print(s)

    line('train', f"({o['train']['n']} steps)", o['train'])
    line('forward', '(no grad)', o['forward'])
    s = o['sample']
    if s['n']:
        line('sample', f"({cfg['sample']['sampler']} {s['steps']} steps, cfg {cfg['sample']['cfg']:g}, "
                       f"{s['batch']} images)", s)
        print(f"sample: {s['evals_per_image']:.1f} image forward passes per image (jit_reference.sample "
              f"evaluates the null class at every step)")
    print(f"peak RSS {o['peak_rss_mib']:.1f} MiB; last training loss {o['last_loss']:.4f}")
    if pk > 0:
        q, m = o['peak']['square'], o['peak']['model']
        print(f"sgemm peak (torch F.linear): {q['m']}x{q['n']}x{q['k']} {q['gflops']:.2f} GFLOP/s; model shape "
              f"(w12) {m['m']}x{m['n']}x{m['k']} {m['gflops']:.2f} GFLOP/s; MFU = achieved / 2048^3 peak")


if __name__ == '__main__':
    main()
