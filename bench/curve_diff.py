#!/usr/bin/python3
"""Loss curves of an ablation side by side: `pixeldit ablate A.ini B.ini
--steps S --seeds K --out DIR` writes DIR/<i>-<name>/seed<k>/log.csv (the
loss of every step). For each seed this prints how far config B's curve is
from config A's (same seed: same batches, noise and t, so only B's change
moves it), and, with two or more seeds, how far seed k's curve is from
seed 0's within a config (the run-to-run spread to compare against).

    /usr/bin/python3 bench/curve_diff.py DIR [--window 100]

Numbers: the largest and the median relative difference of the W-step
window means (the first window, where the loss falls fastest, reported
apart), the per-step median and largest relative difference, and the
means of the last 500 steps.
"""
import argparse
import csv
import glob
import os
import statistics


def load(path):
    with open(path) as f:
        return [float(r['loss']) for r in csv.DictReader(f)]


def windows(c, w):
    return [statistics.fmean(c[i:i + w]) for i in range(0, len(c) - w + 1, w)]


def compare(what, x, y, w):
    n = min(len(x), len(y))
    if n < 2 * w:
        print(f'{what}: fewer than {2 * w} common steps, skipped')
        return
    wx, wy = windows(x[:n], w), windows(y[:n], w)
    rel = [abs(p - q) / abs(q) for p, q in zip(wx, wy)]
    step = [abs(p - q) / abs(q) for p, q in zip(x[:n], y[:n])]
    tail = min(500, n)
    lx, ly = statistics.fmean(x[n - tail:n]), statistics.fmean(y[n - tail:n])
    print(f'{what} ({n} steps):')
    print(f'  {w}-step window means: largest difference {100 * max(rel[1:]):.2f}% after the first window '
          f'({100 * rel[0]:.2f}% in it), median {100 * statistics.median(rel[1:]):.2f}%')
    print(f'  per step: median {100 * statistics.median(step):.2f}%, largest {100 * max(step):.1f}%')
    print(f'  mean of the last {tail} steps: {lx:.5f} vs {ly:.5f} ({100 * (lx - ly) / ly:+.2f}%)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dir')
    ap.add_argument('--window', type=int, default=100)
    a = ap.parse_args()
    configs = sorted(d for d in glob.glob(os.path.join(a.dir, '*-*')) if os.path.isdir(d))
    if len(configs) < 1:
        raise SystemExit(f'curve_diff: no <i>-<name> run folders in {a.dir}')
    runs = {}
    for d in configs:
        for s in sorted(glob.glob(os.path.join(d, 'seed*', 'log.csv'))):
            runs[(os.path.basename(d), int(os.path.basename(os.path.dirname(s))[4:]))] = load(s)
    names = [os.path.basename(d) for d in configs]
    seeds = sorted({k[1] for k in runs})
    base = names[0]
    for other in names[1:]:
        for s in seeds:
            if (base, s) in runs and (other, s) in runs:
                compare(f'{other} against {base}, seed {s}', runs[(other, s)], runs[(base, s)], a.window)
    for name in names:
        for s in seeds[1:]:
            if (name, seeds[0]) in runs and (name, s) in runs:
                compare(f'{name}: seed {s} against seed {seeds[0]} (run to run)', runs[(name, s)],
                        runs[(name, seeds[0])], a.window)


if __name__ == '__main__':
    main()
