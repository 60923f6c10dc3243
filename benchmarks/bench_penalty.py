"""Cost of the Wasserstein ground-metric gradient penalty (WWGAN) against WGAN-GP.

Dukler et al. (2019) report that the WWGAN penalty adds a negligible cost
(Figure 6: 236.9 s against 218.1 s per epoch, a ratio of 1.09). Two parts:

1. **The quadratic form** ``g^T L(x) g`` (`ground_metric_norm2`, six
   neighbour patterns), forward and backward, against the authors' way of
   computing it, depthwise ``conv2d`` with fixed two-tap kernels (written
   here as the baseline), and against the Euclidean ``||g||^2`` of WGAN-GP.
   The two implementations are checked to agree before timing.
2. **A critic update** of the DCGAN critic (Gulrajani et al.'s, 3 strided
   convolutions, no batch norm) on ``batch`` images: the critic loss with
   no penalty, with the two-sided WGAN-GP penalty (the baseline) and with
   the WWGAN penalty, each with backward and an Adam step; and a whole
   training step (``n_critic`` = 5 critic updates and one generator update
   of the DCGAN generator).

Methods are timed interleaved: each round times every method once (the
mean of ``--steps`` calls); the table gives the median over ``--repeats``
rounds and the median over rounds of the ratio to the baseline's sample
of the same round (the machine is shared and noisy). Prints tables and
writes JSON.

Usage::

    python benchmarks/bench_penalty.py [--batch 64] [--size 32] [--channels 3]
        [--filters 64] [--device auto] [--repeats 11] [--steps 3] [--threads N] [--quick]
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from odl_wasserstein.adversarial import (
    NEIGHBOURS_2D, critic_loss, generator_loss, ground_metric_norm2)
from odl_wasserstein.nn import DCGANCritic, DCGANGenerator


def conv_ground_metric_norm2(g, x):
    """The authors' computation: depthwise two-tap convolutions per neighbour pattern."""
    channels = g.shape[1]
    dims = (1, 2, 3)
    low = x.amin(dim=dims, keepdim=True)
    p = (x - low) / (x.amax(dim=dims, keepdim=True) - low)
    result = (g * g).sum(dim=dims)
    for dy, dx in NEIGHBOURS_2D:
        shape = (abs(dy) + 1, abs(dx) + 1)
        start = (0 if dy >= 0 else -dy, 0 if dx >= 0 else -dx)
        end = (start[0] + dy, start[1] + dx)
        diff = torch.zeros(shape, dtype=g.dtype, device=g.device)
        diff[start], diff[end] = 1.0, -1.0
        total = torch.zeros(shape, dtype=g.dtype, device=g.device)
        total[start], total[end] = 1.0, 1.0
        dg = F.conv2d(g, diff.expand(channels, 1, *shape), groups=channels)
        pw = F.conv2d(p, total.expand(channels, 1, *shape), groups=channels)
        result = result + (dg * dg * pw).sum(dim=dims)
    return result


def choose_device(name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


def timed_rounds(methods, steps, repeats, warmup, device):
    """``name -> list of seconds per call``, one sample per round, interleaved."""
    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    for run in methods.values():
        for _ in range(warmup):
            run()
    sync()
    samples = {name: [] for name in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            for _ in range(steps):
                run()
            sync()
            samples[name].append((time.perf_counter() - start) / steps)
    return samples


def summarise(samples, baseline):
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {name: statistics.median(t / t0 for t, t0 in zip(values, samples[baseline]))
              for name, values in samples.items()}
    return {'baseline': baseline, 'seconds': seconds, 'ratio_to_baseline': ratios,
            'samples': samples}


def bench_quadratic_form(args, device):
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.channels, args.size, args.size)
    g0 = torch.randn(shape, generator=generator).to(device)
    x0 = torch.rand(shape, generator=generator).to(device)
    reference = conv_ground_metric_norm2(g0.double(), x0.double())
    # The defaults (edge weight 2, gamma 1, min-max intensities) are the
    # authors' sum of (g_i - g_j)^2 (p_i + p_j) plus ||g||^2.
    ours = ground_metric_norm2(g0.double(), x0.double())
    error = float(((ours - reference).abs() / reference.abs()).max())
    if error > 1e-12:
        raise AssertionError(f'slicing and conv2d implementations differ by {error:.2e}')

    def run(function):
        def call():
            g = g0.clone().requires_grad_(True)
            x = x0.clone().requires_grad_(True)
            function(g, x).sum().backward()
        return call

    methods = {
        'conv2d (authors)': run(conv_ground_metric_norm2),
        'slicing (ours)': run(ground_metric_norm2),
        'Euclidean ||g||^2': run(lambda g, x: (g * g).flatten(1).sum(1)),
    }
    result = summarise(timed_rounds(methods, args.steps, args.repeats, 2, device),
                       'conv2d (authors)')
    result['max_relative_difference'] = error
    result['shape'] = list(shape)
    return result


def bench_updates(args, device):
    torch.manual_seed(0)
    critic = DCGANCritic(args.channels, args.size, args.filters).to(device)
    generator = DCGANGenerator(128, args.channels, args.size, args.filters).to(device)
    critic_opt = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9))
    generator_opt = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.9))
    real = torch.rand(args.batch, args.channels, args.size, args.size, device=device)
    settings = {'no penalty': dict(penalty=None),
                'WGAN-GP (two-sided)': dict(penalty='two-sided', penalty_weight=10.0),
                'WWGAN (wasserstein)': dict(penalty='wasserstein', penalty_weight=4.0)}

    def critic_update(options):
        def call():
            with torch.no_grad():
                fake = generator(torch.randn(args.batch, 128, device=device))
            loss = critic_loss(critic, real, fake, **options).loss
            critic_opt.zero_grad()
            loss.backward()
            critic_opt.step()
        return call

    def training_step(options):
        update = critic_update(options)

        def call():
            for _ in range(5):
                update()
            loss = generator_loss(critic, generator(torch.randn(args.batch, 128,
                                                                device=device)))
            generator_opt.zero_grad()
            loss.backward()
            generator_opt.step()
        return call

    updates = summarise(timed_rounds({name: critic_update(o) for name, o in settings.items()},
                                     args.steps, args.repeats, 2, device),
                        'WGAN-GP (two-sided)')
    steps = summarise(timed_rounds({name: training_step(o) for name, o in settings.items()
                                    if name != 'no penalty'},
                                   1, args.repeats, 1, device), 'WGAN-GP (two-sided)')
    return {'critic_update': updates, 'training_step': steps}


def print_table(title, result):
    print(f'\n{title}')
    print(f'{"method":<24}{"median [ms]":>13}{"ratio":>9}')
    for name, seconds in result['seconds'].items():
        print(f'{name:<24}{1e3 * seconds:>13.2f}{result["ratio_to_baseline"][name]:>9.2f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--channels', type=int, default=3)
    parser.add_argument('--filters', type=int, default=64)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--repeats', type=int, default=11)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes, for a smoke test')
    parser.add_argument('--output', default='benchmarks/results/bench_penalty.json')
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.size, args.filters, args.repeats, args.steps = 4, 16, 8, 2, 1
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    form = bench_quadratic_form(args, device)
    updates = bench_updates(args, device)
    print(f'device {device}, {args.threads} threads, batch {args.batch}, '
          f'{args.channels} x {args.size} x {args.size}, critic width {args.filters}')
    print_table('Part 1. g^T L(x) g, forward + backward', form)
    print_table('Part 2. one critic update (loss, backward, Adam)', updates['critic_update'])
    print_table('Part 3. one training step (5 critic updates + 1 generator update)',
                updates['training_step'])
    report = {'benchmark': 'bench_penalty', 'device': str(device), 'threads': args.threads,
              'platform': platform.platform(), 'torch': torch.__version__,
              'settings': {k: getattr(args, k) for k in
                           ('batch', 'size', 'channels', 'filters', 'repeats', 'steps')},
              'quadratic_form': form, **updates}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'\nwrote {output}')
    return report


if __name__ == '__main__':
    main()
