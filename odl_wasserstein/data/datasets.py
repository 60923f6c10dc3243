"""On-the-fly, seeded and resumable CT training data.

`RingsDataset` simulates the misaligned-rings experiment of Adler et al.,
"Learning to solve inverse problems using Wasserstein loss" (2017),
section 4: the target is a rings phantom, the data are the noisy
sinogram of the same rings, each shifted by its own random offset.
`EllipsesDataset` simulates the random-ellipse training data of Adler &
Öktem, "Learned primal-dual reconstruction" (2018). Both add white Gaussian
noise of 5 % of the mean absolute sinogram value, one level per sample.

Each dataset is an infinite `torch.utils.data.IterableDataset` of whole
batches, a `SeededBatchStream`. Batch ``k`` is a pure function of
``(seed, k)``: it is drawn from a `torch.Generator` seeded by
`batch_generator`, so training resumes exactly at any step
(`SeededBatchStream.batches` with ``start``), splits over DataLoader
workers and distributed ranks without changing the sequence, and held-out
data (`validation_set`) come from a seed stream disjoint from the training
stream. `SeededBatchStream` holds this bookkeeping; a subclass only
defines how batch ``k`` is generated (here the CT simulation of
`SimulatedCTDataset`; `odl_wasserstein.data.ImageDataset` samples stored
images).
"""

import copy
import itertools
import numbers

import numpy as np
import odl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from odl_wasserstein.data.noise import add_gaussian_noise
from odl_wasserstein.data.phantoms import (
    random_ellipse_parameters, random_ellipses, random_ring_parameters,
    random_rings_pair)
from odl_wasserstein.torch import batched_function
from odl_wasserstein.util import check_int

__all__ = (
    'batch_generator',
    'SeededBatchStream',
    'SimulatedCTDataset',
    'RingsDataset',
    'EllipsesDataset',
    'validation_set',
)

_SPLITS = {'train': 0, 'validation': 1}


def _split_key(split):
    try:
        return _SPLITS[split]
    except (KeyError, TypeError):
        raise ValueError(
            f'`split` must be one of {sorted(_SPLITS)}, got {split!r}') from None


def batch_generator(seed, index, split='train'):
    """Return the `torch.Generator` of batch ``index`` of a seeded stream.

    The generator's seed is derived from ``(seed, split, index)`` by NumPy's
    `numpy.random.SeedSequence` (``spawn_key=(split, index)``), so streams
    of different seeds, splits or indices are statistically independent;
    in particular the ``'validation'`` stream never repeats a training
    batch, whatever the seeds.

    Parameters
    ----------
    seed : int
        Non-negative seed of the whole stream.
    index : int
        Non-negative batch number.
    split : {'train', 'validation'}, optional
        Stream.

    Returns
    -------
    torch.Generator
        CPU generator.

    Examples
    --------
    >>> a = torch.rand(3, generator=batch_generator(0, 7))
    >>> b = torch.rand(3, generator=batch_generator(0, 7))
    >>> c = torch.rand(3, generator=batch_generator(0, 7, 'validation'))
    >>> bool(torch.equal(a, b)), bool(torch.equal(a, c))
    (True, False)
    """
    seed = check_int(seed, 'seed')
    index = check_int(index, 'index')
    sequence = np.random.SeedSequence(seed, spawn_key=(_split_key(split), index))
    state = int(sequence.generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(state)


def _distributed_position():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class SeededBatchStream(IterableDataset):
    """Infinite, seeded and resumable stream of whole batches.

    Batch ``k`` is a pure function of the seed and ``k``: subclasses
    define `generate`, which draws generated batch ``index`` from
    ``batch_generator(self.seed, index, split)`` only; this class numbers
    the batches (`batch`, ``repeat``), splits them over distributed ranks
    and DataLoader workers (`batches`, ``iter(dataset)``) and resumes at
    any step. It is what `odl_wasserstein.training.Trainer` needs for an
    exact resume.

    Parameters
    ----------
    seed : int
        Non-negative seed of the stream.
    repeat : int, optional
        Serve each generated batch ``repeat`` times in a row (batches ``k``
        and ``k'`` are equal when ``k // repeat == k' // repeat``), e.g. 10
        for the "new data every 10 steps" of learned primal-dual.
    start, rank, world_size : int, optional
        Position used by ``iter(dataset)``; see `batches`. ``rank`` and
        ``world_size`` default to those of the initialised
        `torch.distributed` process group, else 0 and 1.

    Notes
    -----
    A subclass must pickle (DataLoader workers started by ``'spawn'``
    receive it by pickling) and must not draw from global random state:
    everything random in batch ``index`` comes from its generator.

    Examples
    --------
    A stream of two uniform numbers per batch:

    >>> class Uniform(SeededBatchStream):
    ...     def generate(self, index, split='train'):
    ...         return torch.rand(2, generator=batch_generator(self.seed, index, split))
    >>> stream = Uniform(seed=0, repeat=2)
    >>> first, second, third = itertools.islice(stream.batches(), 3)
    >>> bool(torch.equal(first, second)), bool(torch.equal(second, third))
    (True, False)
    >>> bool(torch.equal(next(stream.batches(start=2)), third))
    True
    """

    def __init__(self, seed, repeat=1, start=0, rank=None, world_size=None):
        super().__init__()
        self.seed = check_int(seed, 'seed')
        self.repeat = check_int(repeat, 'repeat', 1)
        self.start = check_int(start, 'start')
        self.rank = rank
        self.world_size = world_size
        self._stop = None
        self._split = 'train'

    def generate(self, index, split='train'):
        """Generate batch number ``index`` of a seed stream, ignoring ``repeat``.

        Parameters
        ----------
        index : int
            Non-negative number of the generated batch.
        split : {'train', 'validation'}, optional
            Seed stream (see `batch_generator`).

        Returns
        -------
        object
            The batch, e.g. a tensor or a dict of tensors; all its
            randomness comes from ``batch_generator(self.seed, index, split)``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement `generate(index, split)`')

    def batch(self, index, split='train'):
        """Return training batch number ``index`` (a pure function of seed and index).

        Parameters
        ----------
        index : int
            Global batch number ``k >= 0``; with ``repeat > 1`` the batch
            generated for ``k // repeat``.
        split : {'train', 'validation'}, optional
            Seed stream (see `batch_generator`).

        Returns
        -------
        object
            What `generate` returns for batch ``index // repeat``.
        """
        index = check_int(index, 'index')
        return self.generate(index // self.repeat, split)

    def batches(self, start=0, rank=0, world_size=1, num_workers=0, stop=None,
                split='train', **loader_kwargs):
        """Iterate over the batches of one rank from local step ``start`` on.

        Rank ``r`` of ``world_size`` sees every ``world_size``-th global
        batch: at local step ``s`` it gets global batch
        ``k = s * world_size + r``. The ranks together thus consume the
        single-process sequence ``0, 1, 2, ...`` in order, one batch each
        per step, and resuming at step ``s`` (``start=s``) continues that
        sequence exactly where it stopped.

        Parameters
        ----------
        start : int, optional
            First local step, e.g. the step a checkpoint was saved at.
        rank, world_size : int, optional
            This process's rank and the number of processes.
        num_workers : int, optional
            If positive, generate in that many `torch.utils.data.DataLoader`
            worker processes (``batch_size=None``); the workers take
            interleaved steps and the loader yields them round-robin, so
            the order is the same as with ``num_workers=0``.
        stop : int, optional
            Local step to stop before; default never stop.
        split : {'train', 'validation'}, optional
            Seed stream (see `batch_generator`).
        **loader_kwargs
            Further DataLoader options, e.g. ``pin_memory=True`` or
            ``multiprocessing_context='spawn'``.

        Returns
        -------
        iterator
            Over the items of `batch`.

        Examples
        --------
        >>> from odl_wasserstein.operators import ray_transform, reconstruction_space
        >>> op = ray_transform(reconstruction_space(32), num_angles=8, normalize=True)
        >>> dataset = RingsDataset(op, batch_size=2, seed=3)
        >>> stream = dataset.batches(start=5)
        >>> item = next(stream)
        >>> item['data'].shape, item['target'].shape
        (torch.Size([2, 1, 8, 47]), torch.Size([2, 1, 32, 32]))
        >>> bool(torch.equal(item['data'], dataset.batch(5)['data']))
        True

        Rank 1 of 2 at local step 5 gets global batch ``5 * 2 + 1``:

        >>> item = next(dataset.batches(start=5, rank=1, world_size=2))
        >>> bool(torch.equal(item['data'], dataset.batch(11)['data']))
        True
        """
        start = check_int(start, 'start')
        world_size = check_int(world_size, 'world_size', 1)
        rank = check_int(rank, 'rank')
        if rank >= world_size:
            raise ValueError(f'`rank` must be < world_size={world_size}, got {rank}')
        num_workers = check_int(num_workers, 'num_workers')
        if stop is not None:
            stop = check_int(stop, 'stop')
        _split_key(split)
        if num_workers == 0:
            if loader_kwargs:
                raise ValueError(
                    f'DataLoader options {sorted(loader_kwargs)} need num_workers > 0')
            return self._stream(start, stop, 1, rank, world_size, split)
        shard = copy.copy(self)
        shard.start, shard.rank, shard.world_size = start, rank, world_size
        shard._stop, shard._split = stop, split
        loader = DataLoader(shard, batch_size=None, num_workers=num_workers,
                            **loader_kwargs)
        return iter(loader)

    def _stream(self, start, stop, step, rank, world_size, split):
        steps = itertools.count(start, step) if stop is None else range(start, stop, step)
        for local_step in steps:
            yield self.batch(local_step * world_size + rank, split)

    def __iter__(self):
        """``batches(self.start, rank, world_size)``, split over DataLoader workers.

        Inside a DataLoader, worker ``w`` of ``W`` takes local steps
        ``start + w, start + w + W, ...``, which the loader's round-robin
        turns back into the ascending sequence.
        """
        rank, world_size = _distributed_position()
        rank = rank if self.rank is None else self.rank
        world_size = world_size if self.world_size is None else self.world_size
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        return self._stream(self.start + worker, self._stop, num_workers, rank,
                            world_size, self._split)


class SimulatedCTDataset(SeededBatchStream):
    """Infinite stream of simulated CT batches, reproducible and resumable.

    Subclasses define `phantoms`; this class adds the ray transform and the
    noise, and `SeededBatchStream` the bookkeeping of batch numbers.

    Parameters
    ----------
    operator : `odl.Operator`
        Forward operator from a 2D image space ``(H, W)`` to a 2D data
        space ``(angles, bins)``, e.g. the normalised ray transform of
        `odl_wasserstein.operators.ray_transform`. It travels to DataLoader
        workers by pickling.
    batch_size : int
        Samples per batch ``B``.
    noise_level : float
        Noise std relative to the mean absolute noise-free data, per sample.
    seed : int
        Non-negative seed of the stream.
    repeat : int, optional
        Serve each generated batch ``repeat`` times in a row (batches ``k``
        and ``k'`` are equal when ``k // repeat == k' // repeat``), e.g. 10
        for the "new data every 10 steps" of learned primal-dual.
    start, rank, world_size : int, optional
        Position used by ``iter(dataset)``; see `batches`. ``rank`` and
        ``world_size`` default to those of the initialised
        `torch.distributed` process group, else 0 and 1.

    Notes
    -----
    Every item is a dict of float32 tensors:

    - ``'data'``: noisy data ``(B, 1, angles, bins)``;
    - ``'target'``: the training target ``(B, 1, H, W)``;
    - ``'shifted'``: the image that generated the data ``(B, 1, H, W)``
      (the target itself where nothing is misaligned).
    """

    def __init__(self, operator, batch_size, noise_level, seed, repeat=1,
                 start=0, rank=None, world_size=None):
        if not isinstance(operator, odl.Operator):
            raise TypeError(
                f'`operator` must be an odl.Operator (e.g. a ray transform), got '
                f'{type(operator).__name__}')
        if len(operator.domain.shape) != 2 or len(operator.range.shape) != 2:
            raise ValueError(
                '`operator` must map 2D images to 2D data (angles, bins), got '
                f'domain shape {operator.domain.shape} and range shape '
                f'{getattr(operator.range, "shape", None)}')
        if not (isinstance(noise_level, numbers.Real) and noise_level >= 0):
            raise ValueError(
                f'`noise_level` must be a non-negative number, got {noise_level!r}')
        batch_size = check_int(batch_size, 'batch_size', 1)
        super().__init__(seed, repeat=repeat, start=start, rank=rank,
                         world_size=world_size)
        self.operator = operator
        self.shape = tuple(operator.domain.shape)
        self.batch_size = batch_size
        self.noise_level = float(noise_level)

    def __getstate__(self):
        # The lowered forward function holds closures that do not pickle; it
        # is rebuilt from the operator on first use in the new process.
        state = self.__dict__.copy()
        state.pop('_forward', None)
        return state

    @property
    def forward(self):
        """The operator as a batched torch function ``(B, H, W) -> (B, angles, bins)``."""
        if '_forward' not in self.__dict__:
            self._forward = batched_function(self.operator)
        return self._forward

    def phantoms(self, generator):
        """Draw one batch of images.

        Parameters
        ----------
        generator : torch.Generator
            Source of all randomness of the batch.

        Returns
        -------
        target, shifted : torch.Tensor
            float32 ``(B, H, W)``: the training target and the image that
            generates the data (may be the same tensor).
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement `phantoms(generator)`')

    def generate(self, index, split='train'):
        """Simulate data batch number ``index`` of a stream, ignoring ``repeat``.

        Parameters
        ----------
        index : int
            Non-negative number of the generated batch.
        split : {'train', 'validation'}, optional
            Seed stream (see `batch_generator`).

        Returns
        -------
        dict
            ``{'data', 'target', 'shifted'}``, see the class notes.
        """
        generator = batch_generator(self.seed, index, split)
        target, shifted = self.phantoms(generator)
        clean = self.forward(shifted.to(torch.float32))
        noisy = add_gaussian_noise(clean, self.noise_level, dim=(-2, -1),
                                   generator=generator)
        return {'data': noisy.to(torch.float32)[:, None],
                'target': target.to(torch.float32)[:, None],
                'shifted': shifted.to(torch.float32)[:, None]}


class RingsDataset(SimulatedCTDataset):
    """Misaligned rings (Adler et al. 2017, section 4), generated on the fly.

    Each sample has ``n_rings`` rings (`odl_wasserstein.data.rings_phantom`)
    centred uniformly in ``[-0.25, 0.25]^2``; the data are the noisy
    sinogram of the same rings each shifted by its own integer number of
    pixels, uniform in ``[-max_shift, max_shift - 1]`` per axis
    (`odl_wasserstein.data.random_rings_pair`); the target is the unshifted
    phantom.

    Parameters
    ----------
    operator : `odl.Operator`
        Forward operator on the image space, e.g.
        ``ray_transform(reconstruction_space(512), normalize=True)`` for the
        paper's 512 x 512 set-up with 30 angles.
    batch_size : int, optional
        Samples per batch (1 in the paper).
    noise_level : float, optional
        Noise std relative to the mean absolute sinogram, per sample.
    n_rings : int, optional
        Rings per image.
    max_shift : int, optional
        Largest shift in pixels; default ``round(40 * n / 512)``.
    seed : int, optional
        Seed of the stream.
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of
        `SimulatedCTDataset`.

    Examples
    --------
    >>> from odl_wasserstein.operators import ray_transform, reconstruction_space
    >>> op = ray_transform(reconstruction_space(64), normalize=True)
    >>> dataset = RingsDataset(op, batch_size=4, seed=0)
    >>> item = dataset.batch(0)
    >>> {key: tuple(value.shape) for key, value in item.items()}
    {'data': (4, 1, 30, 93), 'target': (4, 1, 64, 64), 'shifted': (4, 1, 64, 64)}
    >>> bool(torch.equal(item['target'], item['shifted']))
    False
    """

    def __init__(self, operator, batch_size=1, noise_level=0.05, n_rings=2,
                 max_shift=None, seed=0, **kwargs):
        super().__init__(operator, batch_size, noise_level, seed, **kwargs)
        self.n_rings = n_rings
        self.max_shift = max_shift
        # Bad ring parameters should fail here, not in a worker process.
        random_ring_parameters(self.shape, 0, n_rings=n_rings, max_shift=max_shift)

    def phantoms(self, generator):
        """Draw ``(target, shifted)`` rings, float32 ``(B, H, W)`` each."""
        return random_rings_pair(self.shape, generator, n_rings=self.n_rings,
                                 max_shift=self.max_shift,
                                 batch_size=self.batch_size)


class EllipsesDataset(SimulatedCTDataset):
    """Random ellipses (Adler & Öktem 2018), generated on the fly.

    Each sample is `odl_wasserstein.data.random_ellipses` (Poisson(50)
    ellipses); ``'shifted'`` is the target itself.

    Parameters
    ----------
    operator : `odl.Operator`
        Forward operator on the image space, e.g.
        ``ray_transform(reconstruction_space(128), normalize=True)`` for the
        paper's set-up (30 angles, 183 bins).
    batch_size : int, optional
        Samples per batch (5 in the paper).
    noise_level : float, optional
        Noise std relative to the mean absolute sinogram, per sample.
    mean_count : float, optional
        Mean number of ellipses per image.
    seed : int, optional
        Seed of the stream.
    **kwargs
        ``repeat`` (10 in the paper: new data every 10 steps), ``start``,
        ``rank``, ``world_size`` of `SimulatedCTDataset`.

    Examples
    --------
    >>> from odl_wasserstein.operators import ray_transform, reconstruction_space
    >>> op = ray_transform(reconstruction_space(64), normalize=True)
    >>> dataset = EllipsesDataset(op, batch_size=2, seed=1, repeat=10)
    >>> item = dataset.batch(3)
    >>> item['data'].shape, item['target'].shape
    (torch.Size([2, 1, 30, 93]), torch.Size([2, 1, 64, 64]))
    >>> bool(torch.equal(item['data'], dataset.batch(9)['data']))  # same until step 10
    True
    """

    def __init__(self, operator, batch_size=5, noise_level=0.05, mean_count=50,
                 seed=0, **kwargs):
        super().__init__(operator, batch_size, noise_level, seed, **kwargs)
        self.mean_count = mean_count
        random_ellipse_parameters(0, mean_count=mean_count)

    def phantoms(self, generator):
        """Draw random-ellipse images; the target is also the data's source."""
        target = random_ellipses(self.shape, generator, mean_count=self.mean_count,
                                 batch_size=self.batch_size)
        return target, target


def validation_set(dataset, n, seed=None):
    """Return ``n`` fixed held-out batches of a seeded stream.

    The batches come from the ``'validation'`` seed stream of
    `batch_generator`, which is disjoint from the training stream: no
    held-out batch is ever a training batch, whatever the seeds (a
    simulator then never shows a training sample; a stream of stored
    images, e.g. of held-out subjects, draws other batches).

    Parameters
    ----------
    dataset : `SeededBatchStream`
        Stream whose model (phantoms, operator, batch size, noise level,
        ...) is used.
    n : int
        Number of batches.
    seed : int, optional
        Seed of the validation stream; default ``dataset.seed``.

    Returns
    -------
    list of dict
        Batches ``0, ..., n - 1`` of the validation stream, in the item
        format of the dataset.

    Examples
    --------
    >>> from odl_wasserstein.operators import ray_transform, reconstruction_space
    >>> op = ray_transform(reconstruction_space(32), num_angles=8, normalize=True)
    >>> dataset = RingsDataset(op, seed=0)
    >>> held_out = validation_set(dataset, 2)
    >>> len(held_out), held_out[0]['target'].shape
    (2, torch.Size([1, 1, 32, 32]))
    >>> bool(torch.equal(held_out[0]['target'], dataset.batch(0)['target']))
    False
    """
    if not isinstance(dataset, SeededBatchStream):
        raise TypeError(
            f'`dataset` must be a SeededBatchStream, got {type(dataset).__name__}')
    n = check_int(n, 'n')
    if seed is not None:
        dataset = copy.copy(dataset)
        dataset.seed = check_int(seed, 'seed')
    return [dataset.generate(index, 'validation') for index in range(n)]
