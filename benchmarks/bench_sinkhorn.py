"""Sinkhorn: cost per iteration, POT comparison, memory, accuracy against eps.

Four parts, one run:

1. Time per Sinkhorn iteration over the time of the two FFT convolutions
   an iteration needs (one forward and one transposed application of the
   FFT engine's kernel convolution on the same batch shape), with the
   authors' setting: `Adler2017Cost`, eps = 1e-3 (max C / eps = 8.1, float32
   FFTs), periodic and zero boundaries. An iteration is timed two ways:
   ``_Problem.step`` alone, and as the difference of two full `sinkhorn`
   runs with ``n_iter = k1`` and ``k2`` divided by ``k2 - k1`` (everything
   a real run does per iteration, setup and read-out cancelled), paired
   round by round. Rounds go over all configurations.
2. Per-iteration speed-up over POT's dense ``ot.sinkhorn`` and
   ``ot.bregman.sinkhorn_log`` (float64, one sample, unit-max squared
   Euclidean cost, eps = 0.05), timed the same way (two iteration counts,
   ``stopThr=0``), against our FFT, separable and dense engines.
3. Peak memory at 512 x 512 of a forward and backward pass with unrolled
   and implicit gradients, each in a fresh subprocess: peak RSS increase
   and bytes saved by autograd for backward, for 10 and 50 iterations.
4. Accuracy of the transport cost against the exact dense log-domain
   solver as eps decreases, with marginal errors, the warnings raised and
   the exact (unregularised) EMD of POT.

Timings are interleaved, repeat by repeat, and reported as medians and as
ratios to a baseline measured in the same run, since the machine is shared
and noisy. torch and numpy's BLAS run one thread by default (``--threads``):
on a loaded two-core machine a multi-threaded call waits whenever one of
its threads is descheduled, which gave single timings 100 times their
median, while one thread keeps the ratios reproducible. Prints one table
per part and writes JSON.

Usage::

    python benchmarks/bench_sinkhorn.py [--sizes 128 256 512] [--batches 1 8]
        [--repeats 7] [--threads 1] [--quick]
"""

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import odl
import ot
import torch

from odl_wasserstein.transport import (
    Adler2017Cost, SaturatingCost, SquaredEuclideanCost, sinkhorn)
from odl_wasserstein.transport.engines import choose_engine
from odl_wasserstein.transport.solver import _Problem

#: The authors' eps, in the units of `Adler2017Cost` (max C / eps = 8.1).
AUTHORS_EPS = 1e-3
#: eps relative to a unit maximum cost in the POT comparison.
POT_EPS = 0.05
ACCURACY_EPS = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3)


def _openblas():
    """(set, get) of the thread count of numpy's OpenBLAS, or None."""
    import ctypes
    import glob
    pattern = os.path.join(os.path.dirname(os.path.dirname(np.__file__)),
                           'numpy.libs', '*openblas*.so*')
    for path in glob.glob(pattern):
        library = ctypes.CDLL(path)
        for prefix, suffix in (('scipy_openblas', '64_'), ('openblas', '64_'),
                               ('openblas', '')):
            setter = getattr(library, f'{prefix}_set_num_threads{suffix}', None)
            getter = getattr(library, f'{prefix}_get_num_threads{suffix}', None)
            if setter is not None and getter is not None:
                return (lambda n: setter(ctypes.c_int(n))), getter
    return None


@contextlib.contextmanager
def thread_limit(threads):
    """Run torch and numpy's BLAS (POT's dense products) on ``threads`` threads.

    Restores both counts afterwards (the smoke test runs inside pytest).
    Yields the BLAS count set, or None where numpy's OpenBLAS is not found.
    """
    if not threads:
        yield None
        return
    torch_before = torch.get_num_threads()
    blas = _openblas()
    blas_before = blas[1]() if blas else None
    torch.set_num_threads(threads)
    if blas:
        blas[0](threads)
    try:
        yield threads if blas else None
    finally:
        torch.set_num_threads(torch_before)
        if blas:
            blas[0](blas_before)


def time_rounds(methods, repeats, warmup=1, min_sample=0.02):
    """Wall-clock seconds per call of each callable, timed round-robin.

    A sample of a call faster than ``min_sample`` seconds (as timed in the
    warm-up) is the mean over enough calls to last that long, so that one
    hiccup of the machine does not make the sample. Returns every sample
    (one per round) so that callers can pair samples of the same round.
    """
    number = dict.fromkeys(methods, 1)
    for name, fn in methods.items():
        for _ in range(warmup):
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            number[name] = max(1, min(1000, math.ceil(min_sample / max(elapsed, 1e-6))))
    samples = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            for _ in range(number[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / number[name])
    return samples


def per_iteration(samples, short, long, k_short, k_long):
    """Median over rounds of ``(T(k_long) - T(k_short)) / (k_long - k_short)``.

    Both runs of a round saw about the same machine load, so the paired
    difference is steadier than a difference of medians.
    """
    return statistics.median((t2 - t1) / (k_long - k_short)
                             for t1, t2 in zip(samples[short], samples[long]))


def rings(n, dtype, shifts=((0.38, 0.40, 0.20), (0.60, 0.62, 0.26))):
    """Two normalised rings on an empty background on an ``n x n`` grid."""
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64),
                          torch.arange(n, dtype=torch.float64), indexing='ij')
    images = []
    for cy, cx, r in shifts:
        d = torch.sqrt((y - cy * n) ** 2 + (x - cx * n) ** 2)
        image = torch.exp(-((d - r * n) / max(0.05 * n, 0.8)) ** 2)
        image[image < 1e-3] = 0
        images.append((image / image.sum()).to(dtype))
    return images


def random_measures(batch, n, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a, b = (torch.rand(batch, n, n, generator=generator, dtype=torch.float64) + 0.1
            for _ in range(2))
    return ((a / a.sum(dim=(1, 2), keepdim=True)).to(dtype),
            (b / b.sum(dim=(1, 2), keepdim=True)).to(dtype))


# -- part 1: iteration against its FFT convolutions ---------------------------

def extra_iterations(batch, n):
    """Iterations between the two timed runs: about constant work per round."""
    return int(min(50, max(4, round(4e6 / (batch * n * n)))))


def iteration_case(n, batch, boundary):
    """Metadata and the callables to time for one grid, batch and boundary."""
    cost = Adler2017Cost((n, n))
    eps = AUTHORS_EPS
    a, b = random_measures(batch, n, torch.float32)
    engine = choose_engine(cost, eps, boundary, 'fft', torch.float32, 'cpu')
    if engine.work_dtype != torch.float32:
        raise RuntimeError(f'expected float32 FFTs at max C / eps = '
                           f'{cost.max_value(boundary) / eps:.3g}')
    problem = _Problem(a, b, engine, eps, None)
    conv = engine._conv['K']
    x = torch.rand(batch, n, n, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        g = problem.step(torch.zeros_like(b))  # a realistic potential

    def step():
        with torch.no_grad():
            problem.step(g)

    def run(k):
        return lambda: sinkhorn(a, b, cost, eps, n_iter=k, boundary=boundary,
                                method='fft')

    k1 = 1
    k2 = k1 + extra_iterations(batch, n)
    case = {
        'case': f'{n}x{n} batch {batch} {boundary}',
        'size': n, 'batch': batch, 'boundary': boundary,
        'fft_shape': list(conv.fft_shape), 'eps': eps,
        'max_cost_over_eps': cost.max_value(boundary) / eps,
        'n_iter': [k1, k2], 'baseline': 'two convolutions',
    }
    methods = {
        'two convolutions': lambda: conv.transpose(conv(x)),
        'step': step,
        f'sinkhorn n_iter={k1}': run(k1),
        f'sinkhorn n_iter={k2}': run(k2),
    }
    return case, methods


def bench_iteration(configurations, repeats):
    """All configurations in one round-robin.

    Other jobs on the machine come in bursts of seconds; spreading every
    configuration's samples over the whole part keeps a burst from
    skewing all samples of one configuration.
    """
    cases, methods = [], {}
    for n, batch, boundary in configurations:
        case, case_methods = iteration_case(n, batch, boundary)
        cases.append(case)
        methods.update({(case['case'], name): fn for name, fn in case_methods.items()})
    samples = time_rounds(methods, repeats)
    for case in cases:
        own = {name: s for (key, name), s in samples.items() if key == case['case']}
        seconds = {name: statistics.median(s) for name, s in own.items()}
        k1, k2 = case['n_iter']
        seconds['iteration'] = per_iteration(own, f'sinkhorn n_iter={k1}',
                                             f'sinkhorn n_iter={k2}', k1, k2)
        # Ratios of samples of the same round, where the machine load was
        # about the same for both.
        base = own['two convolutions']
        per_round = dict(own)
        per_round['iteration'] = [
            (t2 - t1) / (k2 - k1) for t1, t2 in
            zip(own[f'sinkhorn n_iter={k1}'], own[f'sinkhorn n_iter={k2}'])]
        ratios = {name: statistics.median(t / t0 for t, t0 in zip(times, base))
                  for name, times in per_round.items()}
        case.update(seconds=seconds, samples=own, ratio_to_baseline=ratios)
    return cases


def print_iteration(results):
    print('Part 1. Sinkhorn iteration / its two FFT convolutions '
          f'(Adler2017Cost, eps={AUTHORS_EPS:g}, float32, FFT engine; target <= 1.5)')
    print(f'{"grid":>9}{"batch":>6}{"boundary":>10}{"FFT grid":>11}'
          f'{"2 convs [ms]":>14}{"step [ms]":>11}{"step/convs":>12}'
          f'{"iter [ms]":>11}{"iter/convs":>12}')
    for r in results:
        s, q = r['seconds'], r['ratio_to_baseline']
        print(f'{r["size"]:>5}x{r["size"]:<3}{r["batch"]:>6}{r["boundary"]:>10}'
              f'{"x".join(map(str, r["fft_shape"])):>11}'
              f'{1e3 * s["two convolutions"]:>14.2f}{1e3 * s["step"]:>11.2f}'
              f'{q["step"]:>12.2f}{1e3 * s["iteration"]:>11.2f}{q["iteration"]:>12.2f}')
    print('  iter: (T(n_iter=k2) - T(n_iter=k1)) / (k2 - k1) of full sinkhorn calls; '
          'step: _Problem.step alone; [ms]: medians over rounds, ratios: medians of '
          'the ratios within a round')


# -- part 2: POT --------------------------------------------------------------

def bench_pot(n, repeats):
    cost = SquaredEuclideanCost((n, n))
    cost = cost / cost.max_value()
    a, b = random_measures(1, n, torch.float64, seed=2)
    a, b = a[0], b[0]
    M = cost.matrix().numpy()
    a_np, b_np = a.flatten().numpy(), b.flatten().numpy()
    eps = POT_EPS

    def pot(solver, k, **options):
        return lambda: solver(a_np, b_np, M, eps, numItermax=k, stopThr=0, warn=False,
                              **options)

    def ours(method, k):
        return lambda: sinkhorn(a, b, cost, eps, n_iter=k, method=method)

    # POT checks the marginals every 10 iterations: counts that are
    # multiples of 10 charge that check as in a real run. Every call builds
    # n^2 arrays (page faults, noisy): the difference must span enough
    # iterations to dwarf that; the log-domain solvers on n^2 matrices
    # take a large fraction of a second per iteration at 64 x 64.
    counts = {'POT sinkhorn': (10, 110), 'POT sinkhorn_log': (1, 5),
              'ours fft': (10, 110), 'ours separable': (10, 110), 'ours dense': (1, 5)}
    calls = {'POT sinkhorn': lambda k: pot(ot.sinkhorn, k, method='sinkhorn'),
             'POT sinkhorn_log': lambda k: pot(ot.bregman.sinkhorn_log, k),
             'ours fft': lambda k: ours('fft', k),
             'ours separable': lambda k: ours('separable', k),
             'ours dense': lambda k: ours('dense', k)}
    methods = {}
    for name, (k1, k2) in counts.items():
        methods[f'{name} {k1}'] = calls[name](k1)
        methods[f'{name} {k2}'] = calls[name](k2)
    # At 64 x 64 every log-domain call takes seconds: one-off costs do not
    # matter there, and a warm-up round would double the run time.
    samples = time_rounds(methods, repeats, warmup=1 if n <= 32 else 0)
    seconds = {name: per_iteration(samples, f'{name} {k1}', f'{name} {k2}', k1, k2)
               for name, (k1, k2) in counts.items()}
    engines = {name: choose_engine(cost, eps, 'zero', name.split()[1], torch.float64,
                                    'cpu').name
               for name in counts if name.startswith('ours')}
    return {
        'case': f'{n}x{n}', 'size': n, 'eps': eps, 'dtype': 'float64',
        'cost': repr(cost), 'n_iter': counts, 'engines': engines,
        'baseline': 'POT sinkhorn', 'seconds': seconds, 'samples': samples,
        'speedup_over_pot_sinkhorn': {k: seconds['POT sinkhorn'] / v
                                      for k, v in seconds.items()},
        'speedup_over_pot_sinkhorn_log': {k: seconds['POT sinkhorn_log'] / v
                                          for k, v in seconds.items()},
    }


def print_pot(results):
    print(f'Part 2. Time per iteration against POT {ot.__version__} (float64, 1 sample, '
          f'SquaredEuclideanCost / max, eps={POT_EPS:g})')
    print(f'{"grid":>9}  {"method":<20}{"[ms/iter]":>11}'
          f'{"x vs POT sinkhorn":>19}{"x vs POT log":>14}')
    for r in results:
        for name, seconds in r['seconds'].items():
            print(f'{r["size"]:>5}x{r["size"]:<3}  {name:<20}{1e3 * seconds:>11.3f}'
                  f'{r["speedup_over_pot_sinkhorn"][name]:>19.3g}'
                  f'{r["speedup_over_pot_sinkhorn_log"][name]:>14.3g}')
    print('  per iteration: (T(k2) - T(k1)) / (k2 - k1), paired per round; '
          'x: POT time / time (> 1: faster than POT)')


# -- part 3: memory -----------------------------------------------------------

def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _reset_peak_rss():
    """Restart the peak RSS count (Linux); False where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _peak_rss_bytes(reset):
    """Peak RSS since `_reset_peak_rss`, or of the process's whole life.

    ``ru_maxrss`` is not reset by ``clear_refs`` and, on Linux, inherits
    the RSS of the parent forked before ``exec``: a child of a benchmark
    holding 1.4 GB reported 1 GB more than it used. ``VmHWM`` is the peak
    of this process's own memory map.
    """
    if reset:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(spec):
    """Forward and backward of one configuration; runs in a fresh process."""
    n, n_iter, gradient = spec['size'], spec['n_iter'], spec['gradient']
    cost = Adler2017Cost((n, n))
    a, b = rings(n, torch.float32)
    a.requires_grad_(True)
    cost.kernel_cost(spec['boundary'])
    # The implicit backward iterates the adjoint fixed point up to
    # max_iter times; its memory does not depend on that count.
    options = {'max_iter': spec['adjoint_iter']} if gradient == 'implicit' else {}
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    rss_before = _rss_bytes()
    reset = _reset_peak_rss()
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = sinkhorn(a, b, cost, AUTHORS_EPS, n_iter=n_iter, gradient=gradient,
                          boundary=spec['boundary'], method='fft', **options)
    forward = time.perf_counter() - start
    with warnings.catch_warnings():
        # The capped adjoint solve warns that its gradient is approximate;
        # this part measures memory, which the cap does not change.
        warnings.filterwarnings('ignore', message='implicit gradient')
        result.cost.sum().backward()
    backward = time.perf_counter() - start - forward
    peak = _peak_rss_bytes(reset)
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if not bool(torch.isfinite(a.grad).all()):
        raise RuntimeError('non-finite gradient')
    return {'peak_rss_increase_bytes': peak - rss_before, 'rss_before_bytes': rss_before,
            'peak_rss_source': 'VmHWM' if reset else 'ru_maxrss',
            'ru_maxrss_increase_bytes': ru_maxrss - rss_before,
            'saved_for_backward_bytes': saved[0], 'forward_seconds': forward,
            'backward_seconds': backward}


def bench_memory(n, boundary, adjoint_iter, iterations, threads, fresh=True):
    """One fresh interpreter per configuration (``fresh``), or this process.

    A fresh process starts from an empty allocator, so its peak RSS is the
    configuration's own; ``fresh=False`` saves the seconds of importing
    torch and ODL in every child (smoke test).
    """
    results = []
    for gradient in ('unrolled', 'implicit'):
        for n_iter in iterations:
            spec = {'size': n, 'n_iter': n_iter, 'gradient': gradient,
                    'boundary': boundary, 'adjoint_iter': adjoint_iter}
            if fresh:
                out = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), '--memory-child',
                     json.dumps(spec), '--threads', str(threads or 0)],
                    capture_output=True, text=True, check=True)
                measured = json.loads(out.stdout.strip().splitlines()[-1])
            else:
                measured = memory_child(spec)
            results.append({**spec, **measured, 'fresh_process': fresh,
                            'image_bytes': n * n * 4,
                            'dense_matrix_bytes': (n * n) ** 2 * 4})
    return results


def print_memory(results):
    n = results[0]['size']
    unit = results[0]['image_bytes']
    where = 'fresh process each' if results[0]['fresh_process'] else 'in one process'
    print(f'Part 3. Memory of forward + backward at {n}x{n} (batch 1, float32, FFT '
          f'engine, Adler2017Cost, eps={AUTHORS_EPS:g}, {results[0]["boundary"]} boundary), '
          f'{where}')
    print(f'  n * 4 B = {unit / 2 ** 20:.2f} MiB (one image); a dense n^2 float32 '
          f'matrix would be {results[0]["dense_matrix_bytes"] / 2 ** 30:.4g} GiB')
    print(f'{"gradient":>10}{"n_iter":>8}{"peak RSS +[MiB]":>17}{"/ (n*4 B)":>11}'
          f'{"saved [MiB]":>13}{"/ (n*4 B)":>11}{"fwd [s]":>9}{"bwd [s]":>9}')
    for r in results:
        peak, saved = r['peak_rss_increase_bytes'], r['saved_for_backward_bytes']
        print(f'{r["gradient"]:>10}{r["n_iter"]:>8}{peak / 2 ** 20:>17.1f}'
              f'{peak / unit:>11.1f}{saved / 2 ** 20:>13.1f}{saved / unit:>11.1f}'
              f'{r["forward_seconds"]:>9.2f}{r["backward_seconds"]:>9.2f}')
    print(f'  peak RSS +: peak RSS during the call ({results[0]["peak_rss_source"]}) minus '
          'RSS before it; saved: bytes of the tensors autograd packed for backward')
    print(f'  implicit: adjoint fixed point capped at max_iter={results[-1]["adjoint_iter"]} '
          'iterations (the memory does not depend on it, the backward time does)')


# -- part 4: accuracy ---------------------------------------------------------

def _warning_kind(records):
    kinds = []
    for record in records:
        message = str(record.message)
        if 'round-off' in message:
            kinds.append('accuracy')
        elif 'did not reach' in message:
            kinds.append('no-conv')
        else:
            kinds.append(type(record.message).__name__)
    return '+'.join(kinds) if kinds else '-'


def _solve(a, b, cost, eps, method, tol, max_iter):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter('always')
        start = time.perf_counter()
        result = sinkhorn(a, b, cost, eps, tol=tol, max_iter=max_iter, method=method)
        seconds = time.perf_counter() - start
    return {'cost': float(result.cost), 'marginal_error': float(result.marginal_error),
            'n_iter': result.n_iter, 'converged': result.converged,
            'method': result.method, 'warning': _warning_kind(records),
            'warnings': [str(r.message) for r in records], 'seconds': seconds,
            'g': result.g}


def _reference(a, b, cost, eps, tol, continue_tol, max_iter):
    """Exact dense solution, continued past early stops.

    At small eps Sinkhorn crosses long plateaus on which the residual
    hardly moves; the solver takes them for round-off and stops. Warm
    started fixed-count runs go on until the marginal error is below
    ``continue_tol`` (the transport cost converges much faster than the
    marginals) or ``max_iter`` iterations in all.
    """
    row = _solve(a, b, cost, eps, 'dense', tol, max_iter)
    result = None
    chunk = 500
    start = time.perf_counter()
    while (row['marginal_error'] > continue_tol
           and row['n_iter'] + chunk <= max_iter):
        result = sinkhorn(a, b, cost, eps, n_iter=chunk, method='dense',
                          init=result.g if result is not None else row['g'])
        row.update(cost=float(result.cost), n_iter=row['n_iter'] + chunk,
                   marginal_error=float(result.marginal_error))
    row['seconds'] += time.perf_counter() - start
    row['converged'] = row['marginal_error'] <= continue_tol
    return row


def bench_accuracy(n, eps_values, reference_tol, continue_tol, max_iter):
    a, b = rings(n, torch.float64)
    costs = {
        'SaturatingCost': SaturatingCost((n, n), scale=n * 80 / 512),
        'SquaredEuclideanCost': SquaredEuclideanCost((n, n)),
    }
    results = []
    for name, cost in costs.items():
        cost = cost / cost.max_value()
        emd = float(ot.emd2(a.flatten().numpy(), b.flatten().numpy(),
                            cost.matrix().numpy()))
        rows = []
        for eps in eps_values:
            row = {'eps': eps, 'max_cost_over_eps': cost.max_value() / eps}
            row['dense'] = _reference(a, b, cost, eps, reference_tol, continue_tol,
                                      10 * max_iter)
            reference = row['dense']['cost']
            methods = ('fft', 'separable') if cost.separable else ('fft',)
            for method in methods:
                row[method] = _solve(a, b, cost, eps, method, reference_tol, max_iter)
                row[method]['relative_error'] = abs(row[method]['cost'] - reference) / reference
            for method in ('dense',) + methods:
                del row[method]['g']
            row['dense']['relative_gap_to_emd'] = (reference - emd) / emd
            rows.append(row)
        results.append({'cost': name, 'repr': repr(cost), 'separable': cost.separable,
                        'size': n, 'emd': emd, 'reference_tol': reference_tol,
                        'continue_tol': continue_tol, 'rows': rows})
    return results


def print_accuracy(results):
    first = results[0]
    print(f'Part 4. Transport cost <C, P> against the exact dense log-domain solver '
          f'({first["size"]}x{first["size"]}, two rings, float64, unit-max costs, '
          'zero boundary)')
    for r in results:
        sep = r['separable']
        print(f'{r["cost"]} / max ({"separable" if sep else "not separable"}); '
              f'exact EMD (ot.emd2) = {r["emd"]:.6f}')
        header = (f'{"eps":>7}{"C/eps":>7}{"dense":>10}{"iters":>7}{"marg":>9}'
                  f'{"EMD":>10}{"(dense-EMD)/EMD":>17}'
                  f'{"fft err":>10}{"fft marg":>10}{"fft warn":>18}')
        if sep:
            header += f'{"sep err":>10}{"sep marg":>10}{"sep warn":>10}'
        print(header)
        for row in r['rows']:
            dense, fft = row['dense'], row['fft']
            line = (f'{row["eps"]:>7g}{row["max_cost_over_eps"]:>7.0f}{dense["cost"]:>10.6f}'
                    f'{dense["n_iter"]:>7}{dense["marginal_error"]:>9.1e}{r["emd"]:>10.6f}'
                    f'{dense["relative_gap_to_emd"]:>17.2e}'
                    f'{fft["relative_error"]:>10.1e}{fft["marginal_error"]:>10.1e}'
                    f'{fft["warning"]:>18}')
            if sep:
                s = row['separable']
                line += (f'{s["relative_error"]:>10.1e}{s["marginal_error"]:>10.1e}'
                         f'{s["warning"]:>10}')
            print(line)
    print(f'  dense: method=\'dense\' at tol {first["reference_tol"]:g}, continued by '
          f'warm-started runs to marginal error {first["continue_tol"]:g} where it stopped '
          'early (iters: iterations in all); fft, separable: tol '
          f'{first["reference_tol"]:g} as a user would run them')
    print('  err: |cost - dense| / dense; marg: relative L1 marginal error; warn: '
          'RuntimeWarning raised (accuracy: FFT kernel below round-off, '
          'no-conv: tolerance not reached)')


def run(args, blas_threads):
    """All parts selected in ``args``; prints their tables."""
    report = {
        'benchmark': 'bench_sinkhorn',
        'machine': {'cpus': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
                    'blas_threads': blas_threads,
                    'processor': platform.processor(), 'python': platform.python_version()},
        'versions': {'torch': torch.__version__, 'odl': odl.__version__,
                     'pot': ot.__version__, 'numpy': np.__version__},
        'settings': vars(args),
    }
    if 1 in args.parts:
        results = bench_iteration([(n, batch, boundary) for n in args.sizes
                                   for batch in args.batches
                                   for boundary in args.boundaries], args.repeats)
        report['iteration'] = results
        print_iteration(results)
        print()
    if 2 in args.parts:
        report['pot'] = [bench_pot(n, args.pot_repeats) for n in args.pot_sizes]
        print_pot(report['pot'])
        print()
    if 3 in args.parts:
        report['memory'] = bench_memory(args.memory_size, args.memory_boundary,
                                        args.adjoint_iter, args.memory_iters,
                                        args.threads, fresh=not args.quick)
        print_memory(report['memory'])
        print()
    if 4 in args.parts:
        report['accuracy'] = bench_accuracy(args.accuracy_size, args.accuracy_eps,
                                            args.reference_tol, args.continue_tol,
                                            args.max_iter)
        print_accuracy(report['accuracy'])
        print()
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[128, 256, 512],
                        help='grids of part 1')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--boundaries', nargs='+', default=['periodic', 'zero'])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--pot-sizes', type=int, nargs='+', default=[32, 64])
    parser.add_argument('--pot-repeats', type=int, default=3)
    parser.add_argument('--memory-size', type=int, default=512)
    parser.add_argument('--memory-boundary', default='zero')
    parser.add_argument('--memory-iters', type=int, nargs='+', default=[10, 50])
    parser.add_argument('--adjoint-iter', type=int, default=20)
    parser.add_argument('--accuracy-size', type=int, default=24)
    parser.add_argument('--accuracy-eps', type=float, nargs='+', default=list(ACCURACY_EPS))
    parser.add_argument('--reference-tol', type=float, default=1e-9)
    parser.add_argument('--continue-tol', type=float, default=1e-6,
                        help='marginal error to which the dense reference is continued')
    parser.add_argument('--max-iter', type=int, default=2000,
                        help='iteration limit of the runs of part 4 (10x for the reference)')
    parser.add_argument('--threads', type=int, default=1,
                        help='threads of torch and of numpy\'s BLAS (0: their defaults)')
    parser.add_argument('--parts', type=int, nargs='+', default=[1, 2, 3, 4])
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes, one repeat, memory measured in this '
                             'process (smoke test)')
    parser.add_argument('--output', default='benchmarks/results/bench_sinkhorn.json')
    parser.add_argument('--memory-child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.quick:
        args.sizes, args.batches, args.repeats = [16], [1, 2], 1
        args.pot_sizes, args.pot_repeats = [8], 1
        args.memory_size, args.memory_iters, args.accuracy_size = 16, [2, 4], 8
        args.accuracy_eps, args.max_iter = [1e-1, 1e-2], 100

    with thread_limit(args.threads) as blas_threads:
        if args.memory_child:
            print(json.dumps(memory_child(json.loads(args.memory_child))))
            return None
        report = run(args, blas_threads)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f'wrote {output}')
    return report


if __name__ == '__main__':
    main()
