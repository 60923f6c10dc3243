"""Batch sources of the `Trainer`: indexed streams and re-iterables, sharded and resumable.

The training data of a run is either

- an *indexed* source, an object with ``batches(start, rank, world_size,
  num_workers)`` returning an iterator over the batches of local steps
  ``start``, ``start + 1``, ... of process ``rank`` out of ``world_size``
  (the datasets of `odl_wasserstein.data` provide it; their batch ``k`` is
  a pure function of their seed and ``k``). When the iterator ends, it is
  called again from the current step. This is the kind that resumes
  exactly;
- or any *re-iterable* (a list, a `torch.utils.data.DataLoader`), cycled
  over epochs. Rank ``r`` of ``W`` processes takes batches ``r, r + W,
  ...``; on resume the batches before the checkpoint are skipped (whole
  epochs without loading them when the iterable has a length). Exact only
  when iterating does not depend on random state (no shuffling).
"""

__all__ = ('BatchSource',)


class BatchSource:
    """The training batches of a run, from any step, for any rank.

    Parameters
    ----------
    data : object with ``batches(start, rank, world_size, num_workers)``, or re-iterable
    num_workers : int, optional
        Passed to ``data.batches``; only for indexed sources.

    Examples
    --------
    >>> source = BatchSource(['a', 'b', 'c'])
    >>> stream = source.open(start=2, rank=0, world_size=1)
    >>> [next(stream) for _ in range(4)]
    ['c', 'a', 'b', 'c']
    """

    def __init__(self, data, num_workers=0):
        self.indexed = callable(getattr(data, 'batches', None))
        if not self.indexed:
            if not is_reiterable(data):
                raise TypeError(
                    '`data` must have a `batches(start, rank, world_size, num_workers)` '
                    'method or be re-iterable (a list, a DataLoader); got '
                    f'{type(data).__name__}, which is ' + (
                        'an iterator that can be consumed only once' if _is_iterator(data)
                        else 'not iterable'))
            if num_workers:
                raise ValueError('`num_workers` only applies to data with a `batches` '
                                 'method; set the workers of your DataLoader instead')
        self.data, self.num_workers = data, num_workers

    def open(self, start, rank, world_size):
        """An endless iterator over the batches of local steps ``start``, ``start + 1``, ..."""
        if self.indexed:
            return self._indexed(start, rank, world_size)
        return self._cycled(start, rank, world_size)

    def _indexed(self, start, rank, world_size):
        step = start
        while True:
            empty = True
            for batch in self.data.batches(step, rank, world_size, self.num_workers):
                empty = False
                yield batch
                step += 1
            if empty:
                raise ValueError(f'`data.batches({step}, {rank}, {world_size}, '
                                 f'{self.num_workers})` yielded no batches')

    def _cycled(self, start, rank, world_size):
        # Position in the endless stream of all batches; this rank takes every
        # world_size-th one, from its first batch of local step `start`.
        target = start * world_size + rank
        length = len(self.data) if hasattr(self.data, '__len__') else None
        position = (target // length) * length if length else 0
        while True:
            empty = True
            for batch in self.data:
                empty = False
                if position >= target and (position - target) % world_size == 0:
                    yield batch
                position += 1
            if empty:
                raise ValueError('`data` yielded no batches')


def is_reiterable(data):
    """Whether ``data`` can be iterated more than once (a container, not an iterator)."""
    try:
        return iter(data) is not data
    except TypeError:
        return False


def _is_iterator(obj):
    try:
        return iter(obj) is obj
    except TypeError:
        return False
