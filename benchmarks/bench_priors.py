"""Cost of the generative-priors method: latent searches and the generator's training step.

1. **Latent search per image vs restarts and batch**: `latent_search` (hard
   form, PALM, ``--iterations``) of ``M`` measurements with ``R`` restarts
   solved as one batch of ``R M`` problems, against the same ``R`` searches
   run one after another (each with the starts the batch used: the same
   problems, so both keep the same best restart; checked before timing).
   The ratio sequential / batched is what batching the restarts saves.
2. **Latent search against plain torch**: the hard form with Adam through
   `latent_search` (checks, eval mode, restarts, history) against the
   same Adam loop written inline; same starts, same result.
3. **A training step** of the VAE: `AutoencoderRecipe` on the shared
   `Trainer` against the same step in plain torch (the same networks,
   batches, draws and Adam), agreement checked after two steps. As in the
   other training benchmarks, the recipe's time per step is the
   difference of a ``2 n``- and an ``n``-step run divided by ``n``.

Methods are timed interleaved; tables give medians over ``--repeats``
rounds and the median of the per-round ratios to the baseline (the
machine is shared and noisy). Prints the tables and writes JSON.

Usage::

    python benchmarks/bench_priors.py [--size 56] [--filters 8] [--iterations 50]
        [--restarts 1 4 10] [--batches 1 8] [--steps 6] [--repeats 3] [--threads 1]
        [--quick]
"""

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

from odl_wasserstein.data import ShapesDataset, shapes_set
from odl_wasserstein.methods import AutoencoderRecipe
from odl_wasserstein.nn import ConvDecoder, VariationalAutoencoder
from odl_wasserstein.operators import paper_operator, reconstruction_space
from odl_wasserstein.priors import latent_search
from odl_wasserstein.torch import OperatorModule
from odl_wasserstein.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing helpers
from timing import seconds_per_step, summarize, synchronized_time, timed_rounds  # noqa: E402

LATENT_WEIGHT = 0.0122
AGREEMENT_STEPS = 2


def search_problem(args, device, batch):
    """A decoder, the inpainting operator as a torch module and ``batch`` measurements."""
    torch.manual_seed(0)
    generator = ConvDecoder(10, (args.size, args.size), filters=args.filters).to(device).eval()
    op = OperatorModule(paper_operator('inpainting', reconstruction_space(args.size)))
    data = op(shapes_set(batch, args.size).to(device))
    return generator, op, data


def _timed(function):
    def measure():
        start = synchronized_time(DEVICE)
        function()
        return synchronized_time(DEVICE) - start
    return measure


def restarts_table(args, device):
    """Part 1: per-image seconds of batched and sequential restarts, and their agreement."""
    rows = []
    for batch in args.batches:
        generator, op, data = search_problem(args, device, batch)
        for restarts in args.restarts:
            starts = torch.randn(restarts, batch, 10, generator=torch.Generator().manual_seed(1))
            starts = starts.to(device)
            options = dict(latent_weight=LATENT_WEIGHT, n_iter=args.iterations)

            def batched():
                return latent_search(generator, op, data, init=starts, restarts=restarts,
                                     **options)

            def sequential():
                return [latent_search(generator, op, data, init=starts[r], **options)
                        for r in range(restarts)]

            together, alone = batched(), sequential()
            finals = torch.stack([run.objective for run in alone])
            difference = float((together.restart_objectives - finals).abs().max()
                               / finals.abs().max())
            samples = timed_rounds({'sequential restarts': _timed(sequential),
                                    'restarts as one batch': _timed(batched)}, args.repeats)
            samples = {name: [t / batch for t in values] for name, values in samples.items()}
            seconds, ratios = summarize(samples, 'restarts as one batch')
            rows.append({'batch': batch, 'restarts': restarts, 'seconds_per_image': seconds,
                         'ratio_to_baseline': ratios, 'baseline': 'restarts as one batch',
                         'samples': samples, 'max_relative_difference': difference,
                         'same_best_restart': bool(torch.equal(together.best_restart,
                                                               finals.argmin(0)))})
    return rows


def plain_adam(generator, op, data, starts, iterations, lr):
    """The hard form with Adam, inline: the baseline of part 2."""
    z = starts.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(iterations):
        optimizer.zero_grad()
        loss = ((op(generator(z)) - data).square().flatten(1).sum(1)
                + LATENT_WEIGHT * z.square().sum(1)).sum()
        loss.backward()
        optimizer.step()
    return z.detach()


def adam_table(args, device):
    """Part 2: `latent_search` with Adam against the inline Adam loop."""
    batch = max(args.batches)
    generator, op, data = search_problem(args, device, batch)
    starts = torch.randn(batch, 10, generator=torch.Generator().manual_seed(2)).to(device)
    for p in generator.parameters():
        p.requires_grad_(False)

    def ours():
        return latent_search(generator, op, data, init=starts, latent_weight=LATENT_WEIGHT,
                             optimizer='adam', lr=0.05, n_iter=args.iterations).latent

    def plain():
        return plain_adam(generator, op, data, starts, args.iterations, 0.05)

    difference = float((ours() - plain()).norm() / plain().norm())
    samples = timed_rounds({'plain torch Adam': _timed(plain),
                            'latent_search (Adam)': _timed(ours)}, args.repeats)
    seconds, ratios = summarize(samples, 'plain torch Adam')
    return {'batch': batch, 'baseline': 'plain torch Adam', 'seconds': seconds,
            'ratio_to_baseline': ratios, 'samples': samples,
            'max_relative_difference': difference}


def vae(args, device):
    torch.manual_seed(0)
    return VariationalAutoencoder(10, (args.size, args.size), filters=args.filters).to(device)


def train_recipe(args, device, data):
    model = vae(args, device)
    with tempfile.TemporaryDirectory() as folder:
        Trainer(AutoencoderRecipe(model), data, max_steps=len(data), output_dir=folder,
                device=device, log_every=25, checkpoint_every=None, keep_checkpoints=1,
                progress=False).fit()
    return model


def train_plain(args, device, data, clock=None):
    """The VAE's steps in plain torch: reparameterised draw, BCE + KL, Adam."""
    model = vae(args, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    torch.manual_seed(0)  # as the Trainer seeds a fresh run: the same draws
    start = synchronized_time(device)
    for images in data:
        mean, logvar = model.encoder(images).chunk(2, dim=1)
        z = mean + (logvar / 2).exp() * torch.randn_like(mean)
        logits = model.decoder.logits(z)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, images, reduction='none').flatten(1).sum(1)
        kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1)
        loss = (nll + kl).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if clock is not None:
        clock.append(synchronized_time(device) - start)
    return model


def training_table(args, device):
    """Part 3: the recipe's step against the plain step, after checking they agree."""
    stream = ShapesDataset(args.batch_size, args.size, seed=0)
    data = [stream.batch(k).to(device) for k in range(2 * args.steps)]
    a = train_recipe(args, device, data[:AGREEMENT_STEPS])
    b = train_plain(args, device, data[:AGREEMENT_STEPS])
    difference = max(float((p - q).norm() / q.norm().clamp(min=1e-30))
                     for p, q in zip(a.state_dict().values(), b.state_dict().values()))

    def plain():
        clock = []
        train_plain(args, device, data[:args.steps], clock)
        return clock[0] / args.steps

    samples = timed_rounds({
        'plain torch': plain,
        'AutoencoderRecipe + Trainer': lambda: seconds_per_step(
            lambda steps: train_recipe(args, device, steps), data, device)}, args.repeats)
    seconds, ratios = summarize(samples, 'plain torch')
    return {'baseline': 'plain torch', 'seconds': seconds, 'ratio_to_baseline': ratios,
            'samples': samples, 'max_relative_difference': difference}


DEVICE = torch.device('cpu')


def main(argv=None):
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=56)
    parser.add_argument('--filters', type=int, default=8)
    parser.add_argument('--iterations', type=int, default=50)
    parser.add_argument('--restarts', type=int, nargs='+', default=(1, 4, 10))
    parser.add_argument('--batches', type=int, nargs='+', default=(1, 8))
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--quick', action='store_true', help='tiny sizes, for a smoke test')
    parser.add_argument('--output', default='benchmarks/results/bench_priors.json')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.filters, args.iterations, args.steps = 16, 4, 5, 2
        args.restarts, args.batches, args.repeats, args.batch_size = (1, 3), (2,), 2, 8
    torch.set_num_threads(args.threads)
    DEVICE = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                          if args.device == 'auto' else args.device)
    report = {'benchmark': 'bench_priors', 'device': str(DEVICE), 'threads': args.threads,
              'platform': platform.platform(), 'torch': torch.__version__,
              'settings': {k: getattr(args, k) for k in
                           ('size', 'filters', 'iterations', 'restarts', 'batches', 'steps',
                            'batch_size', 'repeats')},
              'restarts': restarts_table(args, DEVICE), 'adam': adam_table(args, DEVICE),
              'training': training_table(args, DEVICE)}
    _print(report, args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'\nwrote {output}')
    return report


def _print(report, args):
    print(f'device {report["device"]}, {args.threads} threads; {args.size} x {args.size} '
          f'shapes, ConvDecoder with {args.filters} filters, inpainting (25 %), hard form')
    print(f'\nPart 1. Latent search ({args.iterations} PALM iterations): seconds per image')
    print(f'{"M":>4}{"R":>5}{"batched [ms]":>15}{"sequential [ms]":>18}{"ratio":>8}'
          f'{"agreement":>11}')
    for row in report['restarts']:
        seconds = row['seconds_per_image']
        print(f'{row["batch"]:>4}{row["restarts"]:>5}'
              f'{1e3 * seconds["restarts as one batch"]:>15.1f}'
              f'{1e3 * seconds["sequential restarts"]:>18.1f}'
              f'{row["ratio_to_baseline"]["sequential restarts"]:>8.2f}'
              f'{row["max_relative_difference"]:>11.1e}')
    for part, title, unit, scale in (('adam', 'Part 2. Hard form with Adam, one search', 'ms',
                                      1e3),
                                     ('training', 'Part 3. VAE training step', 'ms', 1e3)):
        table = report[part]
        print(f'\n{title} (results agree to {table["max_relative_difference"]:.1e})')
        print(f'{"":<30}{"median [" + unit + "]":>13}{"ratio":>9}')
        for name, seconds in table['seconds'].items():
            print(f'{name:<30}{scale * seconds:>13.2f}{table["ratio_to_baseline"][name]:>9.3f}')


if __name__ == '__main__':
    main()
