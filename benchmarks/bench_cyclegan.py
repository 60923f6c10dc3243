"""Cost of the OT-cycleGAN recipe against the same step in plain torch and of its forward operator.

1. **A training step** of `OTCycleGANRecipe` on the shared `Trainer` (one
   generator update through ``G`` and the known forward operator ``F^-1 M F``
   with a new random mask, then 5 updates of the PatchGAN critic with the
   two-sided gradient penalty), against the same step written as a plain
   torch loop with the same networks, batches and optimisers (the
   baseline). The recipe's time includes everything the trainer does per
   step (schedules, gradient norms, metrics, the log every 25 steps) but
   not what it does once per run (the run folder and its lock, the
   verified final checkpoint): a run of ``2 n`` steps and one of ``n`` are
   timed, and their difference divided by ``n``. Before timing, the
   script trains both from the same initial weights and random draws (the
   masks, the penalty's interpolates) for ``AGREEMENT_STEPS`` steps and
   checks that they compute the same networks (over more steps, rounding
   differences grow the way any chaotic adversarial training amplifies
   them).
2. **The forward operator**: the two ``F^-1 M F`` applications and the
   mask draw of a step, against the whole step.

Methods are timed interleaved (each round runs every method once, the mean
of ``--steps`` steps, ``n``); the table gives medians over ``--repeats`` rounds
and the median of the per-round ratios to the baseline (the machine is
shared and noisy). Prints a table and writes JSON.

Usage::

    python benchmarks/bench_cyclegan.py [--size 64] [--filters 16] [--critic-filters 32]
        [--steps 10] [--repeats 7] [--threads N] [--device auto] [--quick]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

from odl_wasserstein.adversarial import gradient_penalty
from odl_wasserstein.data import RandomLineMasks
from odl_wasserstein.experiments import ot_cyclegan_mri
from odl_wasserstein.methods import OTCycleGANRecipe
from odl_wasserstein.nn import PatchGANCritic, UndersampledFourier, UNet
from odl_wasserstein.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing helpers
from timing import seconds_per_step, summarize, synchronized_time, timed_rounds  # noqa: E402


AGREEMENT_STEPS = 2


def networks(args, device):
    torch.manual_seed(0)
    widths = tuple(args.critic_filters * 2 ** k for k in range(4))
    return (UNet.ot_cyclegan(filters=args.filters, levels=4).to(device),
            PatchGANCritic(in_channels=2, filters=widths).to(device))


def batches(args, count, device):
    config = ot_cyclegan_mri.Config.from_dict({'data': {'size': args.size}})
    stream, _ = ot_cyclegan_mri.training_data(config, n_validation=0)
    items = [stream.batch(k) for k in range(count)]
    return [{'a': {'x': b['a']['x'].to(device)},
             'b': {'y': b['b']['y'].to(device), 'mask': b['b']['mask'].to(device)}}
            for b in items]


def train_recipe(args, device, data):
    """The OT-cycleGAN recipe on the Trainer for ``len(data)`` steps; the trained networks."""
    generator, critic = networks(args, device)
    recipe = OTCycleGANRecipe(generator, UndersampledFourier(), critic,
                              mask_sampler=RandomLineMasks(4), x_key=('a', 'x'),
                              y_key=('b', 'y'), mask_key=('b', 'mask'))
    with tempfile.TemporaryDirectory() as folder:
        Trainer(recipe, data, max_steps=len(data), output_dir=folder, device=device,
                log_every=25, checkpoint_every=None, keep_checkpoints=1,
                progress=False).fit()
    return generator, critic


def train_plain(args, device, data, clock=None):
    """The same steps as a plain torch loop; the trained networks.

    ``clock`` (a list) receives the seconds the steps took, set-up excluded.
    """
    masks, forward = RandomLineMasks(4), UndersampledFourier()
    generator, critic = networks(args, device)
    torch.manual_seed(0)  # as the Trainer seeds a fresh run: the same masks and interpolates
    g_opt = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9))
    start = synchronized_time(device)
    for batch in data:
        x, y, mask = batch['a']['x'], batch['b']['y'], batch['b']['mask']
        fake_y = forward(x, masks(y))
        fake_x = generator(y)
        cycle = (x - generator(fake_y)).abs().mean() + (y - forward(fake_x, mask)).abs().mean()
        loss = -critic(fake_x).mean() + 0.5 * cycle
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        fake = fake_x.detach()
        for _ in range(5):
            loss = 0.5 * (critic(fake).mean() - critic(x).mean()
                          + gradient_penalty(critic, x, fake, penalty_weight=5.0))
            d_opt.zero_grad()
            loss.backward()
            d_opt.step()
    if clock is not None:
        clock.append(synchronized_time(device) - start)
    return generator, critic


def plain_seconds(args, device, data):
    """Seconds per step of the plain loop (building the networks excluded)."""
    clock = []
    train_plain(args, device, data, clock)
    return clock[0] / len(data)


def forward_seconds(device, data):
    """Seconds per step of the two ``F^-1 M F`` of a step and the mask draw."""
    masks, forward = RandomLineMasks(4), UndersampledFourier()
    start = synchronized_time(device)
    for batch in data:
        x, y, mask = batch['a']['x'], batch['b']['y'], batch['b']['mask']
        forward(x, masks(y))
        forward(y, mask)
    return (synchronized_time(device) - start) / len(data)


def max_relative_difference(args, device, data):
    """Largest relative difference of what the trained networks compute (same random draws).

    Outputs rather than weights: biases ahead of an instance norm get
    gradients of rounding size, which Adam scales up to full steps.
    """
    trained = train_recipe(args, device, data), train_plain(args, device, data)
    batch = data[0]
    with torch.no_grad():
        outputs = [(generator(batch['b']['y']), critic(batch['a']['x']))
                   for generator, critic in trained]
    return max(float((a - b).norm() / b.norm()) for a, b in zip(*outputs))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--filters', type=int, default=16)
    parser.add_argument('--critic-filters', type=int, default=32)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--device', default='auto')
    parser.add_argument('--quick', action='store_true', help='tiny sizes, for a smoke test')
    parser.add_argument('--output', default='benchmarks/results/bench_cyclegan.json')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.filters, args.critic_filters, args.steps, args.repeats = 32, 2, 2, 2, 2
    torch.set_num_threads(args.threads)
    device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                          if args.device == 'auto' else args.device)
    data = batches(args, 2 * args.steps, device)
    difference = max_relative_difference(args, device, data[:AGREEMENT_STEPS])
    methods = {'plain torch': lambda: plain_seconds(args, device, data[:args.steps]),
               'OTCycleGANRecipe + Trainer': lambda: seconds_per_step(
                       lambda steps: train_recipe(args, device, steps), data, device),
               'forward operator only': lambda: forward_seconds(device, data[:args.steps])}
    samples = timed_rounds(methods, args.repeats)
    seconds, ratios = summarize(samples, 'plain torch')
    print(f'device {device}, {args.threads} threads, {args.size} x {args.size}, U-Net width '
          f'{args.filters}, critic width {args.critic_filters}, 5 critic updates per step')
    print(f'recipe and plain torch train the same networks: outputs agree to {difference:.1e} '
          f'after {AGREEMENT_STEPS} steps')
    print(f'{"one training step":<30}{"median [ms]":>13}{"ratio":>9}')
    for name in methods:
        print(f'{name:<30}{1e3 * seconds[name]:>13.1f}{ratios[name]:>9.3f}')
    report = {'benchmark': 'bench_cyclegan', 'device': str(device), 'threads': args.threads,
              'platform': platform.platform(), 'torch': torch.__version__,
              'settings': {k: getattr(args, k) for k in
                           ('size', 'filters', 'critic_filters', 'steps', 'repeats')},
              'baseline': 'plain torch', 'max_relative_difference': difference,
              'seconds': seconds, 'ratio_to_baseline': ratios,
              'samples': samples}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'\nwrote {output}')
    return report


if __name__ == '__main__':
    main()
