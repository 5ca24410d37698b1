#!/usr/bin/python3
"""Images/s against batch size for pixeldit and the PyTorch peer; writes a
PNG (default docs/bench_batch.png) and prints the numbers.

    /usr/bin/python3 bench/plot_batch.py [--config configs/bench-s.ini]
        [--batches 1 2 4 8 16 32 64] [--steps 5] [--warmup 1] [--threads T]
        [--out docs/bench_batch.png] [--pixeldit build/cli/pixeldit]

Each batch size runs `pixeldit bench` and bench/torch_peer.py once each
(alternating which goes first), without sampling or the sgemm peak, and
plots the median training and no-grad forward images/s. Needs matplotlib
(Debian: python3-matplotlib, in scripts/install-deps.sh --bench).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(side, args, batch, out_json):
    opts = [args.config, '--batch', str(batch), '--steps', str(args.steps), '--warmup', str(args.warmup),
            '--sample-steps', '0', '--no-peak', '--quiet', '--json', out_json]
    if args.threads is not None:
        opts += ['--threads', str(args.threads)]
    if side == 'pixeldit':
        cmd = [args.pixeldit, 'bench'] + opts
    else:
        cmd = ['/usr/bin/python3', os.path.join(ROOT, 'bench', 'torch_peer.py')] + opts
    print('$ ' + ' '.join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit(f'plot_batch: {side} failed ({r.returncode}):\n{r.stdout}{r.stderr}')
    with open(out_json) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--config', default='configs/bench-s.ini')
    ap.add_argument('--batches', type=int, nargs='+', default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', type=int)
    ap.add_argument('--out', default=os.path.join(ROOT, 'docs', 'bench_batch.png'))
    ap.add_argument('--pixeldit', default=os.path.join(ROOT, 'build', 'cli', 'pixeldit'))
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit('plot_batch: needs matplotlib (apt-get install python3-matplotlib, or '
                 'scripts/install-deps.sh --bench)')

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f'plot_batch: load average {load:.2f}: the machine is busy, timings are noisy', file=sys.stderr)
    res = {'pixeldit': {}, 'torch': {}}
    with tempfile.TemporaryDirectory() as tmp:
        for i, b in enumerate(args.batches):
            for side in (['pixeldit', 'torch'] if i % 2 == 0 else ['torch', 'pixeldit']):
                res[side][b] = run(side, args, b, os.path.join(tmp, f'{side}-{b}.json'))

    info = res['pixeldit'][args.batches[0]]
    print(f"{'batch':>6} {'side':<9} {'train img/s':>12} {'fwd img/s':>10} {'train GFLOP/s':>14}")
    for b in args.batches:
        for side in ('pixeldit', 'torch'):
            j = res[side][b]
            print(f"{b:>6} {side:<9} {j['train']['images_per_s']:>12.2f} {j['forward']['images_per_s']:>10.2f} "
                  f"{j['train']['gflops']:>14.2f}")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], 'train', 'training step (fwd + bwd + AdamW + 2 EMA)'),
                           (axes[1], 'forward', 'no-grad forward')):
        for side, style in (('pixeldit', 'o-'), ('torch', 's--')):
            ax.plot(args.batches, [res[side][b][key]['images_per_s'] for b in args.batches], style,
                    label=side if side == 'pixeldit' else 'PyTorch 1.13 eager')
        ax.set_xscale('log', base=2)
        ax.set_xticks(args.batches)
        ax.set_xticklabels([str(b) for b in args.batches])
        ax.set_xlabel('batch size')
        ax.set_ylabel('images / s (median)')
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"{os.path.basename(args.config)} ({info['preset']}), {info['threads']} threads, "
                 f"OpenBLAS {info['blas_core']}; load avg {load:.2f} at start", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f'plot_batch: wrote {args.out}')


if __name__ == '__main__':
    main()
