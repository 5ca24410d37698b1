#!/usr/bin/python3
"""Side by side: `pixeldit bench` and bench/torch_peer.py on the same
configs, alternating the two for R rounds so machine noise shows.

    /usr/bin/python3 bench/compare.py [--rounds 3] [--steps 10] [--warmup 2]
        [--threads T] [--sample-steps S] [--configs configs/bench-s.ini ...]
        [--precision fp32|bf16] [--pixeldit build/cli/pixeldit] [--out runs/bench-compare]

Both run under the same environment (OPENBLAS_CORETYPE included: it is
printed; when it is unset each side's picked kernel is printed). Within a
round the order alternates (pixeldit first in even rounds, torch first in
odd ones). Every run's JSON is kept in --out. The table has one row per run
and a summary per config: the median over rounds of each number and the
ratio pixeldit / torch, and the spread (lowest..highest) of the median
training speed over rounds.

--precision bf16 runs pixeldit with [train] precision = bf16 (refused on a
CPU without AVX512_BF16 / AMX: compare then says so and stops) and the peer
under torch.autocast('cpu', dtype=torch.bfloat16).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIGS = ['configs/bench-s.ini', 'configs/bench-b16.ini']


def run_side(side, cfg, args, out_json):
    common = ['--steps', str(args.steps), '--warmup', str(args.warmup), '--json', out_json, '--quiet']
    if args.threads is not None:
        common += ['--threads', str(args.threads)]
    if args.sample_steps is not None:
        common += ['--sample-steps', str(args.sample_steps)]
    for s in args.sets:
        common += ['--set', s]
    if args.precision:
        common += ['--set', f'train.precision={args.precision}']
    if side == 'pixeldit':
        cmd = [args.pixeldit, 'bench', cfg] + common
    else:
        py = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable  # Debian's torch
        cmd = [py, os.path.join(ROOT, 'bench', 'torch_peer.py'), cfg] + common
    print('$ ' + ' '.join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode and side == 'pixeldit' and args.precision == 'bf16' and 'precision' in r.stderr:
        return {'refused': r.stderr.strip()}  # no bf16 on this CPU or build: torch still runs
    if r.returncode:
        sys.exit(f'compare: {side} failed ({r.returncode}):\n{r.stdout}{r.stderr}')
    with open(out_json) as f:
        return json.load(f)


def row(cfg, side, rnd, j):
    return {
        'config': os.path.basename(cfg), 'side': side, 'round': rnd,
        'train_best': j['train']['images_per_s_best'], 'train_med': j['train']['images_per_s'],
        'fwd': j['forward']['images_per_s'], 'sample': j['sample']['images_per_s'],
        'gflops': j['train']['gflops'], 'mfu': j['train']['mfu'], 'rss': j['peak_rss_mib'],
        'core': j['blas_core'], 'threads': j['threads'], 'peak': j['peak']['square']['gflops'],
    }


HEAD = (f"{'config':<16} {'side':<9} {'rnd':>3} {'train img/s best/med':>21} {'fwd img/s':>10} "
        f"{'sample img/s':>12} {'train GFLOP/s':>13} {'MFU':>6} {'RSS MiB':>8} {'sgemm peak':>10}")


def fmt(r):
    return (f"{r['config']:<16} {r['side']:<9} {r['round']:>3} {r['train_best']:>10.2f}/{r['train_med']:<10.2f} "
            f"{r['fwd']:>10.2f} {r['sample']:>12.3f} {r['gflops']:>13.2f} {100 * r['mfu']:>5.1f}% "
            f"{r['rss']:>8.0f} {r['peak']:>10.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int)
    ap.add_argument('--sample-steps', type=int, help='default: the config\'s [sample] steps; 0 = skip')
    ap.add_argument('--set', action='append', default=[], dest='sets')
    ap.add_argument('--precision', choices=['fp32', 'bf16'],
                    help='both sides; default: each config\'s [train] precision')
    ap.add_argument('--pixeldit', default=os.path.join(ROOT, 'build', 'cli', 'pixeldit'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'runs', 'bench-compare'))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    load = os.getloadavg()
    print(f"compare: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
          + ("  (busy machine: timings are noisy)" if load[0] > 0.5 else ""))
    env_core = os.environ.get('OPENBLAS_CORETYPE')
    print(f"compare: OPENBLAS_CORETYPE={env_core or 'unset (each side picks; see the core column)'}, "
          f"{args.rounds} rounds, {args.steps} steps after {args.warmup} warm-up")
    rows, seen, refused = [], {}, {}
    for rnd in range(args.rounds):
        for cfg in args.configs:
            order = ['pixeldit', 'torch'] if rnd % 2 == 0 else ['torch', 'pixeldit']
            for side in order:
                name = f"{os.path.splitext(os.path.basename(cfg))[0]}-{side}-r{rnd}.json"
                if side in refused.get(cfg, {}):
                    continue
                j = run_side(side, cfg, args, os.path.join(args.out, name))
                if 'refused' in j:
                    refused.setdefault(cfg, {})[side] = j['refused']
                    print(f"compare: {cfg}: pixeldit refused bf16; timing torch alone:\n  {j['refused']}",
                          file=sys.stderr)
                    continue
                seen.setdefault(cfg, {})[side] = j
                same = [seen[cfg][s] for s in ('pixeldit', 'torch') if s in seen[cfg]]
                for k in ('params', 'batch', 'threads', 'flops_per_image'):
                    if len(same) == 2 and abs(same[0][k] - same[1][k]) > 1e-6 * abs(same[1][k]):
                        print(f"compare: WARNING {cfg}: {k} differs: pixeldit {same[0][k]}, torch "
                              f"{same[1][k]}", file=sys.stderr)
                rows.append(row(cfg, side, rnd, j))
                print(fmt(rows[-1]), file=sys.stderr, flush=True)

    print(HEAD)
    for r in rows:
        print(fmt(r))
    cores = sorted({(r['side'], r['core'], r['threads']) for r in rows})
    print('cores: ' + ', '.join(f'{s} {c} ({t} threads)' for s, c, t in cores))
    print('\nmedian over rounds; ratio = pixeldit / torch')
    keys = ['train_best', 'train_med', 'fwd', 'sample', 'gflops', 'mfu', 'rss']
    print(f"{'config':<16} {'side':<9} " + ' '.join(f'{k:>11}' for k in keys))
    for cfg in args.configs:
        c = os.path.basename(cfg)
        med = {}
        for side in ('pixeldit', 'torch'):
            rs = [r for r in rows if r['config'] == c and r['side'] == side]
            if not rs:
                med[side] = {k: 0.0 for k in keys}
                print(f"{c:<16} {side:<9} refused: {refused.get(cfg, {}).get(side, 'no runs')}")
                continue
            med[side] = {k: statistics.median(r[k] for r in rs) for k in keys}
            print(f"{c:<16} {side:<9} " + ' '.join(f'{med[side][k]:>11.3f}' for k in keys))
        if not med['pixeldit']['train_med'] or not med['torch']['train_med']:
            print(f"{c:<16} {'ratio':<9} n/a (one side did not run)")
            continue
        ratio = {k: med['pixeldit'][k] / med['torch'][k] if med['torch'][k] else 0.0 for k in keys}
        print(f"{c:<16} {'ratio':<9} " + ' '.join(f'{ratio[k]:>11.2f}' for k in keys))
    print('\nspread of the median training img/s over rounds (lowest..highest, and highest / lowest)')
    for cfg in args.configs:
        c = os.path.basename(cfg)
        for side in ('pixeldit', 'torch'):
            v = [r['train_med'] for r in rows if r['config'] == c and r['side'] == side]
            if not v:
                continue
            print(f"{c:<16} {side:<9} {min(v):8.2f}..{max(v):<8.2f} {max(v) / min(v):5.3f}")
    print(f'\nJSON of every run: {args.out}')


if __name__ == '__main__':
    main()
