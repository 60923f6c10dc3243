"""Timing helpers shared by the benchmark scripts: synchronised clocks, interleaved rounds."""

import statistics
import time

__all__ = ('synchronized_time', 'timed_rounds', 'summarize', 'seconds_per_step')


def synchronized_time(device):
    """``time.perf_counter()`` after the device has finished its queued work."""
    if device.type == 'cuda':
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def timed_rounds(methods, repeats):
    """``name -> list of seconds``, one sample per round, methods interleaved.

    Every method runs once untimed first (warm-up), then ``repeats`` rounds
    each run every method once, so that load changes hit all alike.
    """
    for measure in methods.values():
        measure()
    samples = {name: [] for name in methods}
    for _ in range(repeats):
        for name, measure in methods.items():
            samples[name].append(measure())
    return samples


def summarize(samples, baseline):
    """Medians of the samples and medians of the per-round ratios to ``baseline``."""
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {name: statistics.median(t / t0 for t, t0 in zip(values, samples[baseline]))
              for name, values in samples.items()}
    return seconds, ratios


def seconds_per_step(train, data, device):
    """Seconds per step of ``train(steps)``, without what a run costs once.

    A run on the `Trainer` sets up its folder and lock and ends with a
    verified checkpoint; timing a run on ``data`` (``2 n`` steps) and one
    on its first half and dividing the difference by ``n`` leaves the
    steps, with their per-step bookkeeping.
    """
    half = data[:len(data) // 2]
    start = synchronized_time(device)
    train(half)
    middle = synchronized_time(device)
    train(data)
    return ((synchronized_time(device) - middle) - (middle - start)) / (len(data) - len(half))
