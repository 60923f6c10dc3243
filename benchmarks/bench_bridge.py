"""Forward + backward time of `OperatorModule` against its natural baselines.

Ray transform (parallel beam, 30 angles, batch 8): our module against

- direct ASTRA calls, written as a careful user would: projector, data
  objects and FP/BP algorithms created once, samples projected one after
  the other (``astra direct``);
- ASTRA's convenience functions ``create_sino``/``create_backprojection``
  per sample (``astra create_sino``);
- ``odl.contrib.torch.OperatorModule`` around ODL's own ``RayTransform``.

MRI (8 coils) and blur (21 x 21 kernel): our modules against the same
computation written directly in torch (and ``conv2d`` for the blur).

Methods are timed interleaved, repeat by repeat, and reported as medians
and as ratios to the baseline measured in the same run, since the machine
is shared and noisy. Prints a table and writes JSON.

Usage::

    python benchmarks/bench_bridge.py [--size 256] [--batch 8] [--repeats 7]
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import astra
import numpy as np
import odl
import odl.contrib.torch
import torch
import torch.nn.functional as F
from odl.applications import tomo as odl_tomo

from odl_wasserstein.operators import (
    Convolution, MRIForward, gaussian_psf, parallel_geometry,
    reconstruction_space)
from odl_wasserstein.operators.masks import random_lines_mask
from odl_wasserstein.operators.tomo import RayTransform
from odl_wasserstein.torch import OperatorModule


def forward_backward(module, x, g):
    """One forward and one backward pass of ``<module(x), g>``."""
    x = x.detach().requires_grad_(True)
    y = module(x)
    (y * g).real.sum().backward() if y.is_complex() else (y * g).sum().backward()
    return x.grad


def time_interleaved(methods, repeats, warmup=1):
    """Median wall-clock seconds of each callable, timed round-robin."""
    for fn in methods.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


class DirectAstra:
    """Hand-written ASTRA baseline with objects created once."""

    def __init__(self, space, geometry):
        from odl.applications.tomo.backends.astra_setup import (
            astra_projection_geometry, astra_projector, astra_volume_geometry)
        self.vol_geom = astra_volume_geometry(space, 'cpu')
        self.proj_geom = astra_projection_geometry(geometry, 'cpu')
        self.projector = astra_projector('linear', self.vol_geom, self.proj_geom, 2)
        self.volume = np.zeros(space.shape, np.float32)
        self.sinogram = np.zeros(geometry.partition.shape, np.float32)
        vol_id = astra.data2d.link('-vol', self.vol_geom, self.volume)
        sino_id = astra.data2d.link('-sino', self.proj_geom, self.sinogram)
        cfg = astra.astra_dict('FP')
        cfg.update(ProjectorId=self.projector, VolumeDataId=vol_id,
                   ProjectionDataId=sino_id)
        self.fp = astra.algorithm.create(cfg)
        cfg = astra.astra_dict('BP')
        cfg.update(ProjectorId=self.projector, ReconstructionDataId=vol_id,
                   ProjectionDataId=sino_id)
        self.bp = astra.algorithm.create(cfg)

    def forward_backward(self, x, g):
        grads = np.empty_like(x)
        for k in range(len(x)):
            self.volume[...] = x[k]
            astra.algorithm.run(self.fp)
            _ = self.sinogram.copy()  # the forward result a model would use
            self.sinogram[...] = g[k]
            astra.algorithm.run(self.bp)
            grads[k] = self.volume
        return grads

    def create_sino(self, x, g):
        grads = np.empty_like(x)
        for k in range(len(x)):
            sino_id, _ = astra.create_sino(x[k], self.projector)
            astra.data2d.delete(sino_id)
            vol_id, grads[k] = astra.create_backprojection(g[k], self.projector)
            astra.data2d.delete(vol_id)
        return grads


def bench_ray(size, batch, repeats):
    space = reconstruction_space(size)
    geometry = parallel_geometry(space, 30)
    ours = OperatorModule(RayTransform(space, geometry))
    ours_1thread = OperatorModule(RayTransform(space, geometry))
    ours_1thread.operator.kernel.num_threads = 1
    contrib = odl.contrib.torch.OperatorModule(
        odl_tomo.RayTransform(space, geometry, impl='astra_cpu'))
    direct = DirectAstra(space, geometry)

    x = torch.rand(batch, 1, size, size)
    g = torch.rand(batch, 1, *geometry.partition.shape)
    x_np, g_np = x[:, 0].numpy().copy(), g[:, 0].numpy().copy()
    # Same numbers from every path (ODL's wrapper scales its gradient).
    reference = direct.forward_backward(x_np, g_np)
    np.testing.assert_allclose(forward_backward(ours, x, g)[:, 0].numpy(), reference,
                               rtol=1e-5, atol=1e-4)

    times = time_interleaved({
        'astra direct': lambda: direct.forward_backward(x_np, g_np),
        'astra create_sino': lambda: direct.create_sino(x_np, g_np),
        'odl.contrib OperatorModule': lambda: forward_backward(contrib, x, g),
        'OperatorModule (1 thread)': lambda: forward_backward(ours_1thread, x, g),
        'OperatorModule': lambda: forward_backward(ours, x, g),
    }, repeats)
    return {'case': f'ray transform {size}x{size}, 30 angles, batch {batch}',
            'baseline': 'astra direct', 'seconds': times}


def bench_mri(size, batch, repeats, n_coils=8):
    space = odl.uniform_discr([-1, -1], [1, 1], (size, size), dtype='complex64')
    mask = random_lines_mask((size, size), acceleration=4, acs_fraction=0.08, seed=0)
    rng = np.random.default_rng(0)
    coils = (rng.standard_normal((n_coils, size, size))
             + 1j * rng.standard_normal((n_coils, size, size))).astype(np.complex64)
    ours = OperatorModule(MRIForward(space, mask, coil_maps=coils))
    mask_t, coils_t = torch.from_numpy(mask), torch.from_numpy(coils)

    def direct(x):
        k = torch.fft.ifftshift(x[:, :, None] * coils_t, dim=(-2, -1))
        k = torch.fft.fftn(k, dim=(-2, -1), norm='ortho')
        return torch.fft.fftshift(k, dim=(-2, -1)) * mask_t

    x = torch.randn(batch, 1, size, size, dtype=torch.complex64)
    g = torch.randn(batch, 1, n_coils, size, size, dtype=torch.complex64)
    torch.testing.assert_close(forward_backward(ours, x, g),
                               forward_backward(direct, x, g), rtol=1e-4, atol=1e-4)
    times = time_interleaved({
        'torch direct': lambda: forward_backward(direct, x, g),
        'OperatorModule': lambda: forward_backward(ours, x, g),
    }, repeats)
    return {'case': f'MRI {size}x{size}, {n_coils} coils, batch {batch}',
            'baseline': 'torch direct', 'seconds': times}


def bench_blur(size, batch, repeats, kernel_size=21):
    space = odl.uniform_discr([0, 0], [1, 1], (size, size), dtype='float32')
    kernel = gaussian_psf((kernel_size, kernel_size), sigma=3.0).astype(np.float32)
    ours = OperatorModule(Convolution(space, kernel, boundary='zero'))
    kernel_t = torch.from_numpy(kernel)
    c = kernel_size // 2
    fft_shape = (size + kernel_size - 1,) * 2

    spectrum = torch.fft.rfftn(kernel_t, s=fft_shape)  # precomputed, as ours

    def direct_fft(x):
        full = torch.fft.irfftn(torch.fft.rfftn(x, s=fft_shape) * spectrum, s=fft_shape)
        return full[..., c:c + size, c:c + size]

    def direct_conv2d(x):
        # conv2d correlates: flip the kernel to convolve.
        return F.conv2d(x, kernel_t.flip(0, 1)[None, None], padding='same')

    x = torch.rand(batch, 1, size, size)
    g = torch.rand(batch, 1, size, size)
    torch.testing.assert_close(forward_backward(ours, x, g),
                               forward_backward(direct_conv2d, x, g), rtol=1e-4, atol=1e-4)
    times = time_interleaved({
        'torch direct (FFT)': lambda: forward_backward(direct_fft, x, g),
        'torch conv2d': lambda: forward_backward(direct_conv2d, x, g),
        'OperatorModule': lambda: forward_backward(ours, x, g),
    }, repeats)
    return {'case': f'blur {size}x{size}, {kernel_size}x{kernel_size} kernel, batch {batch}',
            'baseline': 'torch direct (FFT)', 'seconds': times}


def print_table(results):
    print(f'{"case / method":<52}{"median [ms]":>12}{"ratio":>8}')
    for result in results:
        print(result['case'])
        base = result['seconds'][result['baseline']]
        for name, seconds in result['seconds'].items():
            print(f'  {name:<50}{1e3 * seconds:>12.1f}{seconds / base:>8.2f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--output', default='benchmarks/results/bench_bridge.json')
    args = parser.parse_args(argv)

    results = [bench_ray(args.size, args.batch, args.repeats),
               bench_mri(args.size, args.batch, args.repeats),
               bench_blur(args.size, args.batch, args.repeats)]
    for result in results:
        base = result['seconds'][result['baseline']]
        result['ratio_to_baseline'] = {k: v / base for k, v in result['seconds'].items()}
    print_table(results)
    report = {
        'benchmark': 'bench_bridge',
        'machine': {'cpus': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
                    'processor': platform.processor(), 'python': platform.python_version()},
        'versions': {'torch': torch.__version__, 'odl': odl.__version__,
                     'astra': astra.__version__},
        'settings': vars(args),
        'results': results,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'wrote {output}')
    return report


if __name__ == '__main__':
    main()
