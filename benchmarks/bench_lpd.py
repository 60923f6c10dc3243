"""Training steps per second of the learned primal-dual network on CT.

The CT problem of the learned primal-dual paper: image space
``reconstruction_space(size)``, parallel-beam ray transform with 30 angles
normalised to norm 1, one sample per batch (the Shepp-Logan phantom and its
noisy data). One training step is forward + loss + backward + gradient-norm
clipping (1) + an Adam step (lr 1e-3, betas (0.9, 0.99)), as in the paper.
The same network (same initial weights) is trained with

- ``odl.contrib OperatorModule``: ODL's own wrapper
  ``odl.contrib.torch.OperatorModule`` around ODL's ``RayTransform`` and its
  adjoint (ASTRA CPU, or ASTRA CUDA on a CUDA device), scaled by the same
  ``1 / ||R||``; the baseline. It accepts ``(N, C, H, W)`` tensors (any
  leading axes) and loops over them in Python, so no adapter is needed;
- ``OperatorModule``: ``LearnedPrimalDual(ray)``, our batched bridge;
- ``OperatorModule + WassersteinLoss``: the same with the loss of the
  Wasserstein-loss paper (``WassersteinLoss.paper``) instead of the MSE,
  to show the cost of the loss (skip with ``--no-wasserstein``).

Before timing, both MSE networks are checked to give the same output and
gradients. Methods are timed interleaved: each round runs ``--steps`` steps
of every method; a sample is the mean time per step of a round, reported as
the median over ``--repeats`` rounds (after ``--warmup`` steps), and as the
median over rounds of the ratio to the baseline's sample of the same round
(the machine is shared and noisy). torch runs ``--threads`` threads (default: all CPUs),
set explicitly and recorded. Prints a table and writes JSON.

Usage::

    python benchmarks/bench_lpd.py [--size 128] [--device auto] [--steps 2]
        [--repeats 15] [--warmup 2] [--threads N] [--quick]
    python benchmarks/bench_lpd.py --device cuda --size 512   # the paper's GPU setting
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import astra
import odl
import odl.contrib.torch
import torch
from odl.applications import tomo as odl_tomo

from odl_wasserstein.nn import LearnedPrimalDual
from odl_wasserstein.operators import ray_transform, reconstruction_space
from odl_wasserstein.operators.astra_kernel import astra_cuda_available
from odl_wasserstein.torch import OperatorModule
from odl_wasserstein.transport import WassersteinLoss

#: Adler & Oektem (2018): about 3 h for 20 001 steps at 512 x 512 on a Titan X.
PAPER_STEPS_PER_SECOND = 20001 / (3 * 3600)
BASELINE = 'odl.contrib OperatorModule'


def choose_device(name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


def problem(size, device, noise=0.05, seed=0):
    """Normalised ray transform, phantom and noisy data ``(1, 1, ...)`` tensors."""
    space = reconstruction_space(size)
    ray = ray_transform(space, num_angles=30, normalize=True)
    phantom = odl.core.phantom.shepp_logan(space, modified=True)
    x = torch.as_tensor(phantom.asarray(), dtype=torch.float32)[None, None]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        y = OperatorModule(ray)(x)
    y = y + noise * y.abs().mean() * torch.randn(y.shape, generator=generator)
    return ray, x.to(device), y.to(device)


def contrib_modules(ray, device):
    """ODL's ray transform and adjoint in ``odl.contrib.torch.OperatorModule``."""
    impl = 'astra_cuda' if device.type == 'cuda' and astra_cuda_available() else 'astra_cpu'
    odl_ray = ray.scalar * odl_tomo.RayTransform(ray.domain, ray.operator.geometry,
                                                 impl=impl)
    return (odl.contrib.torch.OperatorModule(odl_ray),
            odl.contrib.torch.OperatorModule(odl_ray.adjoint)), impl


class Trainer:
    """One network, its Adam optimiser and its loss: ``step()`` trains once."""

    def __init__(self, net, loss, data, target, state):
        self.net, self.loss, self.data, self.target = net, loss, data, target
        self.net.load_state_dict(state, strict=False)
        self.optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.net(self.data), self.target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        return loss


def check_same(a, b, data, target):
    """Both bridges give the same output and the same gradients."""
    grads = []
    for net in (a, b):
        net.zero_grad(set_to_none=True)
        output = net(data)
        torch.nn.functional.mse_loss(output, target).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
        net.zero_grad(set_to_none=True)
    torch.testing.assert_close(a(data), b(data), rtol=1e-4, atol=1e-5)
    error = float((grads[0] - grads[1]).norm() / grads[0].norm())
    if error > 1e-3:
        raise AssertionError(f'gradients of the two bridges differ by {error:.3g}')
    return error


def time_steps(methods, steps, repeats, warmup, device):
    """Median seconds per step of each method, rounds of ``steps`` steps, interleaved."""
    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    for fn in methods.values():
        for _ in range(warmup):
            fn()
    sync()
    samples = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            sync()
            samples[name].append((time.perf_counter() - start) / steps)
    return samples


def bench(args, device):
    ray, target, data = problem(args.size, device)
    options = dict(n_iter=args.n_iter, n_primal=5, n_dual=5, filters=args.filters)
    torch.manual_seed(0)
    ours = LearnedPrimalDual(ray, **options).to(device)
    state = {k: v.clone() for k, v in ours.state_dict().items()}
    (forward, adjoint), contrib_impl = contrib_modules(ray, device)
    contrib = LearnedPrimalDual(forward, adjoint=adjoint, **options).to(device)
    contrib.load_state_dict(state, strict=False)
    gradient_error = check_same(ours, contrib, data, target)

    mse = torch.nn.MSELoss()
    trainers = {
        BASELINE: Trainer(contrib, mse, data, target, state),
        'OperatorModule': Trainer(ours, mse, data, target, state),
    }
    if args.wasserstein:
        ours_w = LearnedPrimalDual(ray, **options).to(device)
        trainers['OperatorModule + WassersteinLoss'] = Trainer(
            ours_w, WassersteinLoss.adler2017((args.size, args.size)), data, target, state)
    samples = time_steps({name: t.step for name, t in trainers.items()},
                         args.steps, args.repeats, args.warmup, device)
    seconds = {name: statistics.median(s) for name, s in samples.items()}
    n_params = sum(p.numel() for p in ours.parameters())
    return {
        'case': (f'LPD {args.size}x{args.size}, 30 angles, n_iter {args.n_iter}, '
                 f'{args.filters} filters, batch 1, {device.type}'),
        'size': args.size, 'range_shape': list(ray.range.shape),
        'parameters': n_params, 'contrib_impl': contrib_impl,
        'gradient_relative_difference': gradient_error,
        'baseline': BASELINE, 'seconds': seconds, 'samples': samples,
        'steps_per_second': {k: 1 / v for k, v in seconds.items()},
        # Ratios of samples of the same round (about the same machine load).
        'ratio_to_baseline': {
            k: statistics.median(t / t0 for t, t0 in zip(s, samples[BASELINE]))
            for k, s in samples.items()},
    }


def print_table(result, threads):
    print(f'{result["case"]}, torch threads {threads}')
    print(f'{"method":<36}{"ms/step":>10}{"steps/s":>10}{"ratio":>8}')
    for name, seconds in result['seconds'].items():
        print(f'  {name:<34}{1e3 * seconds:>10.1f}{1 / seconds:>10.2f}'
              f'{result["ratio_to_baseline"][name]:>8.2f}')
    print('  ms/step: median over rounds of the mean step time of a round; ratio: '
          f'median over rounds of time / time of {BASELINE} in the same round')
    print(f'  paper (512x512, Titan X): ~3 h for 20 001 steps = '
          f'{PAPER_STEPS_PER_SECOND:.2f} steps/s')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--n-iter', type=int, default=10)
    parser.add_argument('--filters', type=int, default=32)
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda', ...")
    parser.add_argument('--steps', type=int, default=2, help='steps per round')
    parser.add_argument('--repeats', type=int, default=15, help='rounds')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch.set_num_threads')
    parser.add_argument('--no-wasserstein', dest='wasserstein', action='store_false',
                        help='skip the Wasserstein-loss case')
    parser.add_argument('--quick', action='store_true',
                        help='size 32, n_iter 2, few steps (smoke test)')
    parser.add_argument('--output', default='benchmarks/results/bench_lpd.json')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.n_iter, args.steps, args.repeats, args.warmup = 32, 2, 2, 2, 1

    device = choose_device(args.device)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = bench(args, device)
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)  # the smoke test runs inside pytest
    print_table(result, threads)
    report = {
        'benchmark': 'bench_lpd',
        'machine': {'cpus': os.cpu_count(), 'torch_threads': threads,
                    'device': str(device),
                    'gpu': (torch.cuda.get_device_name(device)
                            if device.type == 'cuda' else None),
                    'processor': platform.processor(), 'python': platform.python_version()},
        'versions': {'torch': torch.__version__, 'odl': odl.__version__,
                     'astra': astra.__version__},
        'settings': {**vars(args), 'device': str(device)},
        'paper_steps_per_second': PAPER_STEPS_PER_SECOND,
        'results': [result],
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'wrote {output}')
    return report


if __name__ == '__main__':
    main()
