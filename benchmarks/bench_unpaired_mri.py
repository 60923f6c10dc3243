"""Cost of the unpaired-WGAN MRI method: its training step and its inference per slice.

1. **A training step** of `UnpairedMRIRecipe` (``'unpaired'``) on the shared
   `Trainer`: 3 critic-only updates of the 7-layer critic, each on its own
   part of the batch with a new ``G(b)``, then the joint update of the
   unrolled generator and the critic on the last part (WGAN-GP, weight
   10), against the same step written as a plain torch loop with the same
   networks, batches and optimisers (the baseline). As in
   ``bench_cyclegan.py``, the recipe's time is the difference of a
   ``2 n``-step and an ``n``-step run divided by ``n`` (the run folder, its
   lock and the final checkpoint are once per run), and both are first
   trained for ``AGREEMENT_STEPS`` steps from the same weights and random
   draws and checked to compute the same networks.
2. **Inference per slice** at the paper's size (256 x 320, 8 coils, the
   unrolled generator with K = 3 and 64 features, eval mode): the
   generator as the package runs it (`CoilFourier`, the data-consistency
   layers, with their checks) against a plain torch forward of the same
   weights (``torch.fft`` and the same convolutions inline). The paper
   reports 0.025 s per slice on a TITAN Xp GPU (Table III).

Methods are timed interleaved; the tables give medians over ``--repeats``
rounds and the median of the per-round ratios to the baseline (the
machine is shared and noisy). Prints the tables and writes JSON.

Usage::

    python benchmarks/bench_unpaired_mri.py [--size 64] [--features 32] [--steps 6]
        [--slice 256 320] [--repeats 5] [--threads N] [--device auto] [--quick]
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
from odl_wasserstein.data import MulticoilMRIDataset, SimulatedMRIDataset
from odl_wasserstein.experiments import unpaired_mri
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.methods import UnpairedMRIRecipe
from odl_wasserstein.nn import CoilFourier, UnpairedMRICritic, UnrolledDCGenerator
from odl_wasserstein.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing helpers
from timing import seconds_per_step, summarize, synchronized_time, timed_rounds  # noqa: E402

AGREEMENT_STEPS = 2
N_CRITIC = 4


def networks(features, device):
    torch.manual_seed(0)
    return (UnrolledDCGenerator(n_iter=3, features=features).to(device),
            UnpairedMRICritic().to(device))


def batches(args, count, device):
    """``count`` unpaired batches of the CPU demo's data at ``args.size``."""
    config = unpaired_mri.Config.from_dict({'data': {'size': args.size},
                                            'train': {'batch_size': 1}})
    stream, _ = unpaired_mri.training_data(config, n_validation=0)
    keys = ('kspace', 'mask', 'coil_maps')
    return [{'a': {'x': item['a']['x'].to(device)},
             'b': {key: item['b'][key].to(device) for key in keys}}
            for item in (stream.batch(k) for k in range(count))]


def train_recipe(args, device, data):
    """The recipe on the Trainer for ``len(data)`` steps; the trained networks."""
    generator, critic = networks(args.features, device)
    recipe = UnpairedMRIRecipe(generator, critic)
    with tempfile.TemporaryDirectory() as folder:
        Trainer(recipe, data, max_steps=len(data), output_dir=folder, device=device,
                log_every=25, checkpoint_every=None, keep_checkpoints=1,
                progress=False).fit()
    return generator, critic


def _reconstruct(generator, item):
    return generator(item['kspace'], CoilFourier(item['mask'], item['coil_maps']))


def _critic_update(critic, optimizer, real, fake):
    loss = critic(fake).mean() - critic(real).mean() + gradient_penalty(critic, real, fake)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def train_plain(args, device, data, clock=None):
    """The same steps as a plain torch loop; the trained networks.

    ``clock`` (a list) receives the seconds the steps took, set-up excluded.
    """
    generator, critic = networks(args.features, device)
    torch.manual_seed(0)  # as the Trainer seeds a fresh run: the same interpolates
    g_opt = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9))
    start = synchronized_time(device)
    for batch in data:
        labels = batch['a']['x'].split(1)
        parts = [{key: value[k:k + 1] for key, value in batch['b'].items()}
                 for k in range(N_CRITIC)]
        for real, item in zip(labels[:-1], parts[:-1]):
            with torch.no_grad():
                fake = _reconstruct(generator, item)
            _critic_update(critic, d_opt, real, fake)
        fake = _reconstruct(generator, parts[-1])
        loss = -critic(fake).mean()
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        _critic_update(critic, d_opt, labels[-1], fake.detach())
    if clock is not None:
        clock.append(synchronized_time(device) - start)
    return generator, critic


def plain_seconds(args, device, data):
    clock = []
    train_plain(args, device, data, clock)
    return clock[0] / len(data)


def max_relative_difference(args, device, data):
    """Largest relative difference of what the trained networks compute (same draws)."""
    trained = train_recipe(args, device, data), train_plain(args, device, data)
    item = {key: value[:1] for key, value in data[0]['b'].items()}
    with torch.no_grad():
        outputs = [(_reconstruct(generator.eval(), item), critic(data[0]['a']['x']))
                   for generator, critic in trained]
    return max(float((a - b).norm() / b.norm()) for a, b in zip(*outputs))


def plain_unrolled(generator, kspace, mask, maps):
    """The unrolled generator's forward in plain torch: ``torch.fft`` and its convolutions."""
    def encode(x):
        return fftn_centered(x * maps, 2) * mask

    def combine(k):
        return (ifftn_centered(k * mask, 2) * maps.conj()).sum(1, keepdim=True)

    x0 = combine(kspace)
    x = x0
    for step, prox in zip(generator.steps, generator.proxes):
        x = x + step.t * (combine(encode(x)) - x0)
        channels = torch.cat([x.real, x.imag], 1)
        channels = channels + prox.layers(channels)
        x = torch.complex(channels[:, :1], channels[:, 1:])
    x = x + combine(kspace - encode(x))
    return torch.cat([x.real, x.imag], 1)


def slice_item(shape, device):
    images = SimulatedMRIDataset(shape, num_coils=8, snr_db=30)
    item = MulticoilMRIDataset(images, acceleration=10, seed=0).batch(0)
    return {key: item[key].to(device) for key in ('kspace', 'mask', 'coil_maps')}


def inference(args, device):
    """Seconds per slice of the package's generator and of the plain forward; agreement."""
    generator = networks(64 if not args.quick else 4, device)[0].eval()
    item = slice_item(tuple(args.slice), device)

    def ours():
        start = synchronized_time(device)
        with torch.no_grad():
            _reconstruct(generator, item)
        return synchronized_time(device) - start

    def plain():
        start = synchronized_time(device)
        with torch.no_grad():
            plain_unrolled(generator, item['kspace'], item['mask'], item['coil_maps'])
        return synchronized_time(device) - start

    with torch.no_grad():
        a = _reconstruct(generator, item)
        b = plain_unrolled(generator, item['kspace'], item['mask'], item['coil_maps'])
    agreement = float((a - b).norm() / b.norm())
    samples = timed_rounds({'plain torch forward': plain, 'UnrolledDCGenerator': ours},
                           args.repeats)
    return samples, agreement


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--features', type=int, default=32)
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--slice', type=int, nargs=2, default=(256, 320))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--device', default='auto')
    parser.add_argument('--quick', action='store_true', help='tiny sizes, for a smoke test')
    parser.add_argument('--output', default='benchmarks/results/bench_unpaired_mri.json')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.features, args.steps, args.repeats = 32, 4, 2, 2
        args.slice = (64, 80)
    torch.set_num_threads(args.threads)
    device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                          if args.device == 'auto' else args.device)
    data = batches(args, 2 * args.steps, device)
    difference = max_relative_difference(args, device, data[:AGREEMENT_STEPS])
    training = timed_rounds({
        'plain torch': lambda: plain_seconds(args, device, data[:args.steps]),
        'UnpairedMRIRecipe + Trainer': lambda: seconds_per_step(
                       lambda steps: train_recipe(args, device, steps), data, device)},
        args.repeats)
    slices, agreement = inference(args, device)
    report = {'benchmark': 'bench_unpaired_mri', 'device': str(device), 'threads': args.threads,
              'platform': platform.platform(), 'torch': torch.__version__,
              'settings': {k: getattr(args, k) for k in
                           ('size', 'features', 'steps', 'slice', 'repeats')},
              'max_relative_difference': difference, 'inference_agreement': agreement,
              'training': _table(training, 'plain torch'),
              'inference': _table(slices, 'plain torch forward'),
              'paper_seconds_per_slice_gpu': 0.025}
    _print(report, args, device)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'\nwrote {output}')
    return report


def _table(samples, baseline):
    seconds, ratios = summarize(samples, baseline)
    return {'baseline': baseline, 'seconds': seconds, 'ratio_to_baseline': ratios,
            'samples': samples}


def _print(report, args, device):
    print(f'device {device}, {args.threads} threads; training at {args.size} x {args.size}, '
          f'8 coils, unrolled generator (K = 3, {args.features} features), 7-layer critic, '
          f'{N_CRITIC} critic updates per step (the last joint), batch 1 per update')
    print(f'recipe and plain torch train the same networks: outputs agree to '
          f'{report["max_relative_difference"]:.1e} after {AGREEMENT_STEPS} steps')
    for title, key, unit, scale in (('one training step', 'training', 'ms', 1e3),
                                    (f'inference, one {args.slice[0]} x {args.slice[1]} slice',
                                     'inference', 's', 1.0)):
        table = report[key]
        print(f'{title:<34}{"median [" + unit + "]":>13}{"ratio":>9}')
        for name, seconds in table['seconds'].items():
            print(f'{name:<34}{scale * seconds:>13.3f}{table["ratio_to_baseline"][name]:>9.3f}')
    print(f'the two inference forwards agree to {report["inference_agreement"]:.1e}; the paper: '
          f'{report["paper_seconds_per_slice_gpu"]} s per slice on a GPU')


if __name__ == '__main__':
    main()
