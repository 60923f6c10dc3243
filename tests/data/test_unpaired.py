"""Tests of `odl_wasserstein.data.UnpairedStream`."""

import itertools
import pickle

import pytest
import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.mri import SimulatedMRIDataset
from odl_wasserstein.data.unpaired import UnpairedStream
from odl_wasserstein.training.batches import BatchSource


class Numbers(SeededBatchStream):
    """Two uniform numbers per batch: cheap and easy to compare."""

    def generate(self, index, split='train'):
        return torch.rand(2, generator=batch_generator(self.seed, index, split))


def equal(x, y):
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(equal(x[key], y[key]) for key in x)
    if isinstance(x, torch.Tensor):
        return torch.equal(x, y)
    return x == y


@pytest.fixture
def streams():
    return Numbers(seed=1), SimulatedMRIDataset(16, batch_size=2, seed=2, subjects='odd')


def test_batch_k_is_the_two_streams_batch_k(streams):
    a, b = streams
    stream = UnpairedStream(a, b)
    for k in (0, 1, 7, 30):
        item = stream.batch(k)
        assert sorted(item) == ['a', 'b']
        assert torch.equal(item['a'], a.batch(k))
        assert equal(item['b'], b.batch(k))
        validation = stream.batch(k, 'validation')
        assert torch.equal(validation['a'], a.batch(k, 'validation'))
        assert not torch.equal(validation['a'], item['a'])
    # The streams' own repeat applies.
    repeated = UnpairedStream(Numbers(seed=1, repeat=3), b)
    assert torch.equal(repeated.batch(5)['a'], a.batch(1))
    assert equal(repeated.batch(5)['b'], b.batch(5))


def test_resumption_equals_the_tail_of_a_full_iteration(streams):
    stream = UnpairedStream(*streams)
    full = list(itertools.islice(stream.batches(), 8))
    for start in (1, 3, 7):
        tail = list(itertools.islice(UnpairedStream(*streams).batches(start=start), 8 - start))
        assert len(tail) == 8 - start
        assert all(equal(x, y) for x, y in zip(tail, full[start:]))
    assert all(equal(x, y) for x, y in zip(stream.batches(start=2, stop=5), full[2:5]))


@pytest.mark.parametrize('world_size', (2, 3))
def test_sharding_like_seeded_batch_stream(streams, world_size):
    stream = UnpairedStream(*streams)
    steps = 4
    full = list(itertools.islice(stream.batches(), steps * world_size))
    for rank in range(world_size):
        shard = list(itertools.islice(stream.batches(start=1, rank=rank, world_size=world_size),
                                      steps - 1))
        for step, item in enumerate(shard, start=1):
            assert equal(item, full[step * world_size + rank])
    # The trainer's batch source serves the same batches.
    source = BatchSource(stream).open(start=2, rank=1, world_size=world_size)
    assert equal(next(source), full[2 * world_size + 1])
    with pytest.raises(ValueError, match='`rank`'):
        next(stream.batches(rank=world_size, world_size=world_size))


def test_data_loader_workers_and_pickling(streams):
    stream = UnpairedStream(*streams)
    expected = [stream.batch(k) for k in range(2, 6)]
    loaded = list(stream.batches(start=2, stop=6, num_workers=2))
    assert len(loaded) == 4 and all(equal(x, y) for x, y in zip(loaded, expected))
    clone = pickle.loads(pickle.dumps(stream))
    assert equal(clone.batch(9), stream.batch(9))
    # iter() uses the stored position, as SeededBatchStream does.
    positioned = UnpairedStream(*streams, start=3, rank=0, world_size=1)
    assert equal(next(iter(positioned)), stream.batch(3))


def test_errors(streams):
    a, _ = streams
    with pytest.raises(TypeError, match='`stream_b`'):
        UnpairedStream(a, [1, 2, 3])
    with pytest.raises(TypeError, match='`stream_a`'):
        UnpairedStream(object(), a)
    with pytest.raises(ValueError, match='same stream'):
        UnpairedStream(a, a)
