"""Unpaired training data: two independent seeded streams, batch by batch.

Unpaired methods (the OT-cycleGAN of "Optimal transport, CycleGAN, and
penalized LS for unsupervised learning in inverse problems"; the unpaired
WGAN of Lei et al., "Wasserstein GANs for MR imaging: from paired to
unpaired training") train on samples of two domains that are never
matched: e.g. fully sampled images (domain A) and undersampled
measurements of other subjects (domain B). `UnpairedStream` serves batch
``k`` of both streams together, as one indexed, resumable stream for the
`odl_wasserstein.training.Trainer`.
"""

from odl_wasserstein.data.datasets import SeededBatchStream

__all__ = ('UnpairedStream',)


class UnpairedStream(SeededBatchStream):
    """Batch ``k`` of two independent streams, as one resumable stream.

    Batch ``k`` is the dict ``{'a': stream_a.batch(k, split), 'b':
    stream_b.batch(k, split)}`` (a dict of the two streams' items, whatever
    they are), so it is a pure function of the two streams' seeds and
    ``k``: `batches` resumes exactly at any step and shards over ranks and
    DataLoader workers as `odl_wasserstein.data.SeededBatchStream.batches`
    does (rank ``r`` of ``W`` takes global batches ``r, r + W, ...``).

    The streams should be independent (different seeds) and, for unpaired
    training, hold different subjects, e.g. two
    `odl_wasserstein.data.SimulatedMRIDataset` of ``subjects='even'`` and
    ``'odd'``, or two `odl_wasserstein.data.FastMRISliceDataset` of
    different folders.

    Parameters
    ----------
    stream_a, stream_b : object with ``batch(index, split)``
        The two streams, e.g. `odl_wasserstein.data.SeededBatchStream`
        instances; their own ``repeat`` applies. They travel to DataLoader
        workers by pickling.
    start, rank, world_size : int, optional
        Position used by ``iter(stream)``; see `batches`.

    Attributes
    ----------
    stream_a, stream_b : object
        The two streams.
    seed : None
        Unused: the seeds are the streams' own.

    Examples
    --------
    >>> from odl_wasserstein.data import SimulatedMRIDataset
    >>> full = SimulatedMRIDataset(32, seed=0, subjects='even')
    >>> under = SimulatedMRIDataset(32, seed=1, subjects='odd')
    >>> stream = UnpairedStream(full, under)
    >>> item = stream.batch(5)
    >>> sorted(item), item['a']['image'].shape
    (['a', 'b'], torch.Size([1, 1, 32, 32]))
    >>> bool(torch.equal(item['b']['image'], under.batch(5)['image']))
    True
    >>> resumed = next(stream.batches(start=5))
    >>> bool(torch.equal(resumed['a']['image'], full.batch(5)['image']))
    True
    """

    def __init__(self, stream_a, stream_b, start=0, rank=None, world_size=None):
        for name, stream in (('stream_a', stream_a), ('stream_b', stream_b)):
            if not callable(getattr(stream, 'batch', None)):
                raise TypeError(f'`{name}` must have a `batch(index, split)` method (a '
                                f'SeededBatchStream), got {type(stream).__name__}')
        if stream_a is stream_b:
            raise ValueError('`stream_a` and `stream_b` are the same stream, whose batches '
                             'would be paired; give two independent streams')
        super().__init__(0, start=start, rank=rank, world_size=world_size)
        self.seed = None
        self.stream_a, self.stream_b = stream_a, stream_b

    def generate(self, index, split='train'):
        """Batch ``index`` of both streams, ``{'a': ..., 'b': ...}``.

        Parameters
        ----------
        index : int
            Non-negative global batch number.
        split : {'train', 'validation'}, optional
            Seed stream of both streams (see
            `odl_wasserstein.data.batch_generator`).

        Returns
        -------
        dict
            ``{'a': stream_a.batch(index, split), 'b': stream_b.batch(index, split)}``.
        """
        return {'a': self.stream_a.batch(index, split),
                'b': self.stream_b.batch(index, split)}
