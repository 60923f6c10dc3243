"""Tests of the seeded, resumable simulated CT datasets."""

import itertools
import multiprocessing
import pickle

import odl
import pytest
import torch
from torch.utils.data import DataLoader

from odl_wasserstein.data.datasets import (
    EllipsesDataset, RingsDataset, SimulatedCTDataset, batch_generator,
    validation_set)
from odl_wasserstein.data.phantoms import random_ellipses, random_rings_pair
from odl_wasserstein.operators import ray_transform, reconstruction_space
from odl_wasserstein.util import to_tensor

SIZE, ANGLES, BINS = 32, 30, 47


@pytest.fixture(scope='module')
def op():
    return ray_transform(reconstruction_space(SIZE), num_angles=ANGLES, normalize=True)


@pytest.fixture(params=['rings', 'ellipses'])
def make(request, op):
    """Factory of datasets of either kind on the module's operator."""
    cls = RingsDataset if request.param == 'rings' else EllipsesDataset

    def factory(**kwargs):
        kwargs.setdefault('batch_size', 2)
        if cls is EllipsesDataset:
            kwargs.setdefault('mean_count', 10)
        return cls(op, **kwargs)

    factory.cls = cls
    return factory


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def take(iterator, n):
    return list(itertools.islice(iterator, n))


def test_item_shapes_and_dtypes(make):
    item = make(batch_size=3, seed=1).batch(0)
    assert set(item) == {'data', 'target', 'shifted'}
    assert item['data'].shape == (3, 1, ANGLES, BINS)
    assert item['target'].shape == item['shifted'].shape == (3, 1, SIZE, SIZE)
    assert all(value.dtype == torch.float32 for value in item.values())
    if make.cls is RingsDataset:
        assert not torch.equal(item['target'], item['shifted'])
        assert set(item['target'].unique().tolist()) <= {0.0, 1.0, 2.0}
    else:
        assert torch.equal(item['target'], item['shifted'])


def test_batch_is_pure_function_of_seed_and_index(make):
    a, b, c = make(seed=5), make(seed=5), make(seed=6)
    for k in (0, 3):
        assert same(a.batch(k), b.batch(k))
        assert not torch.equal(a.batch(k)['target'], c.batch(k)['target'])
    # order of calls does not matter
    later = b.batch(3)
    assert same(a.batch(0), b.batch(0)) and same(later, a.batch(3))
    assert not torch.equal(a.batch(0)['target'], a.batch(1)['target'])


def test_phantoms_come_from_batch_generator(op):
    rings = RingsDataset(op, batch_size=3, seed=4)
    target, shifted = random_rings_pair(SIZE, batch_generator(4, 2), batch_size=3)
    item = rings.batch(2)
    assert torch.equal(item['target'][:, 0], target)
    assert torch.equal(item['shifted'][:, 0], shifted)
    ellipses = EllipsesDataset(op, batch_size=3, seed=4)
    images = random_ellipses(SIZE, batch_generator(4, 2), batch_size=3)
    assert torch.equal(ellipses.batch(2)['target'][:, 0], images)


def odl_forward(op, images):
    return torch.stack([to_tensor(op(op.domain.element(image[0].numpy())))
                        for image in images])[:, None]


def test_data_is_normalised_ray_transform_plus_noise(make, op):
    clean = make(batch_size=4, seed=2, noise_level=0.0).batch(1)
    expected = odl_forward(op, clean['shifted'])
    assert float(expected.abs().max()) > 0.1
    torch.testing.assert_close(clean['data'], expected, rtol=1e-5, atol=1e-6)

    noisy = make(batch_size=4, seed=2, noise_level=0.05).batch(1)
    assert torch.equal(noisy['shifted'], clean['shifted'])
    assert torch.equal(noisy['target'], clean['target'])
    noise = (noisy['data'] - expected).double()
    mean_abs = expected.double().abs().mean(dim=(-2, -1))
    ratio = noise.std(dim=(-2, -1)) / mean_abs
    # 1410 values per sample: each std within ~8 standard errors (1.9 % each)
    assert torch.allclose(ratio, torch.full_like(ratio, 0.05), rtol=0.15)
    assert float(ratio.mean()) == pytest.approx(0.05, rel=0.08)
    assert bool((noise.mean(dim=(-2, -1)).abs() < 0.2 * 0.05 * mean_abs).all())

    louder = make(batch_size=4, seed=2, noise_level=0.2).batch(1)
    ratio = (louder['data'] - expected).double().std(dim=(-2, -1)) / mean_abs
    assert float(ratio.mean()) == pytest.approx(0.2, rel=0.08)


def test_operator_is_normalised(op):
    """The fixture's operator has norm 1 (so the data scale is the paper's)."""
    from odl_wasserstein.operators import operator_norm
    assert operator_norm(op) == pytest.approx(1.0, rel=1e-3)
    raw = ray_transform(reconstruction_space(SIZE), num_angles=ANGLES)
    assert operator_norm(raw) > 1.5


def test_batches_resume_exactly(make):
    dataset = make(seed=3)
    full = take(dataset.batches(), 5)
    for k, item in enumerate(full):
        assert same(item, dataset.batch(k))
    resumed = take(dataset.batches(start=2), 3)
    assert all(same(a, b) for a, b in zip(resumed, full[2:]))
    assert len(list(dataset.batches(start=1, stop=4))) == 3
    assert list(dataset.batches(start=4, stop=4)) == []


@pytest.mark.parametrize('world_size', [2, 3])
def test_rank_split(make, world_size):
    dataset = make(seed=7)
    for start in (0, 2):
        for rank in range(world_size):
            item = next(dataset.batches(start=start, rank=rank, world_size=world_size))
            assert same(item, dataset.batch(start * world_size + rank))
    # the ranks together consume the single-process sequence
    streams = [take(dataset.batches(rank=r, world_size=world_size), 2)
               for r in range(world_size)]
    merged = [item for step in zip(*streams) for item in step]
    single = take(dataset.batches(), 2 * world_size)
    assert all(same(a, b) for a, b in zip(merged, single))


def test_repeat(make):
    dataset = make(seed=1, repeat=3)
    items = take(dataset.batches(), 7)
    plain = make(seed=1)
    for k, item in enumerate(items):
        assert same(item, plain.batch(k // 3))
    assert not torch.equal(items[2]['target'], items[3]['target'])
    assert same(dataset.batch(5), dataset.batch(3))
    # rank split counts repeated global batches
    item = next(dataset.batches(start=1, rank=1, world_size=2))
    assert same(item, plain.batch(1))


def test_validation_set(make):
    dataset = make(seed=0)
    held_out = validation_set(dataset, 3)
    assert len(held_out) == 3
    assert all(same(a, b) for a, b in zip(held_out, validation_set(make(seed=0), 3)))
    training = take(dataset.batches(), 3)
    for val in held_out:
        assert val['data'].shape == training[0]['data'].shape
        for train in training:
            assert not torch.equal(val['target'], train['target'])
            assert not torch.equal(val['data'], train['data'])
    assert not torch.equal(held_out[0]['target'], held_out[1]['target'])
    # its own seed argument, and the same stream through `batches`
    other = validation_set(dataset, 2, seed=9)
    assert all(same(a, b) for a, b in zip(other, validation_set(make(seed=9), 2)))
    assert not torch.equal(other[0]['target'], held_out[0]['target'])
    assert dataset.seed == 0
    streamed = take(dataset.batches(split='validation'), 2)
    assert all(same(a, b) for a, b in zip(streamed, held_out))
    assert validation_set(dataset, 0) == []


def test_batch_generator():
    def draw(*args):
        return torch.rand(4, generator=batch_generator(*args))

    assert torch.equal(draw(0, 3), draw(0, 3))
    assert torch.equal(draw(0, 3), draw(0, 3, 'train'))
    assert not torch.equal(draw(0, 3), draw(0, 3, 'validation'))
    assert not torch.equal(draw(0, 3), draw(0, 4))
    assert not torch.equal(draw(0, 3), draw(1, 3))
    # seed and index do not simply add
    assert not torch.equal(draw(1, 0), draw(0, 1))
    for args in [(-1, 0), (0, -1), (0, 0, 'test')]:
        with pytest.raises(ValueError):
            batch_generator(*args)
    for args in [(0.5, 0), (True, 0)]:
        with pytest.raises(TypeError, match='`seed` must be an int'):
            batch_generator(*args)


def test_iter_in_dataloader(make):
    dataset = make(seed=8)
    loader = DataLoader(dataset, batch_size=None)
    items = take(iter(loader), 3)
    assert all(same(item, dataset.batch(k)) for k, item in enumerate(items))
    # iter(dataset) is the same stream; start/rank/world_size attributes
    assert same(next(iter(dataset)), dataset.batch(0))
    positioned = make(seed=8, start=4, rank=1, world_size=2)
    items = take(iter(DataLoader(positioned, batch_size=None)), 2)
    assert same(items[0], dataset.batch(9)) and same(items[1], dataset.batch(11))


def test_pickle_round_trip(make):
    dataset = make(seed=2)
    first = dataset.batch(1)  # builds the (unpicklable) lowered forward
    clone = pickle.loads(pickle.dumps(dataset))
    assert same(clone.batch(1), first)
    assert clone.seed == 2 and clone.shape == (SIZE, SIZE)


def test_workers_fork_same_sequence(op):
    """Default ('fork') workers, one sample per batch, give the serial sequence."""
    dataset = RingsDataset(op, batch_size=1, seed=6)
    serial = take(dataset.batches(start=1, rank=1, world_size=2), 4)
    parallel = take(dataset.batches(start=1, rank=1, world_size=2, num_workers=2), 4)
    assert all(same(a, b) for a, b in zip(parallel, serial))


@pytest.mark.slow
def test_workers_spawn_same_sequence(op):
    """Spawned workers receive the dataset (and ray transform) by pickling."""
    dataset = RingsDataset(op, batch_size=2, seed=6)
    serial = take(dataset.batches(start=1), 4)
    parallel = take(dataset.batches(start=1, num_workers=2,
                                    multiprocessing_context='spawn', timeout=60), 4)
    assert all(same(a, b) for a, b in zip(parallel, serial))


def _child_batch(dataset, expected, conn):
    conn.send(bool(torch.equal(dataset.batch(1)['data'], expected)))
    conn.close()


def test_forked_worker_after_parent_projected(op):
    dataset = RingsDataset(op, batch_size=4, seed=6)
    expected = dataset.batch(1)['data']  # the parent's pool now exists
    ctx = multiprocessing.get_context('fork')
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_batch, args=(dataset, expected, send))
    child.start()
    try:
        assert receive.poll(3), 'forked worker hangs'
        assert receive.recv()
    finally:
        child.kill()
        child.join()


def test_errors(op):
    with pytest.raises(TypeError, match='odl.Operator'):
        RingsDataset(lambda x: x)
    with pytest.raises(ValueError, match='2D'):
        RingsDataset(odl.IdentityOperator(odl.rn(3)))
    for kwargs, match in [({'noise_level': -0.1}, 'noise_level'),
                          ({'noise_level': float('nan')}, 'noise_level'),
                          ({'batch_size': 0}, 'batch_size'),
                          ({'seed': -1}, 'seed'), ({'repeat': 0}, 'repeat'),
                          ({'start': -1}, 'start'), ({'max_shift': -1}, 'max_shift'),
                          ({'n_rings': -1}, 'n_rings')]:
        with pytest.raises(ValueError, match=match):
            RingsDataset(op, **kwargs)
    with pytest.raises(ValueError, match='mean_count'):
        EllipsesDataset(op, mean_count=-1)
    dataset = RingsDataset(op)
    for kwargs, match in [({'rank': 2, 'world_size': 2}, 'rank'),
                          ({'rank': -1, 'world_size': 2}, 'rank'),
                          ({'world_size': 0}, 'world_size'),
                          ({'start': -1}, 'start'), ({'stop': -2}, 'stop'),
                          ({'num_workers': -1}, 'num_workers'),
                          ({'split': 'test'}, 'split'),
                          ({'pin_memory': True}, 'num_workers')]:
        with pytest.raises(ValueError, match=match):
            dataset.batches(**kwargs)
    with pytest.raises(ValueError, match='index'):
        dataset.batch(-1)
    with pytest.raises(ValueError, match='split'):
        dataset.batch(0, split='test')
    with pytest.raises(TypeError, match='SeededBatchStream'):
        validation_set([dataset], 2)
    with pytest.raises(ValueError, match='seed'):
        validation_set(dataset, 2, seed=-1)
    with pytest.raises(NotImplementedError, match='phantoms'):
        SimulatedCTDataset(op, 1, 0.05, 0).batch(0)
