"""Tests of the image datasets: IDX files, MNIST, digits, splits and streams."""

import gzip
import itertools
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from odl_wasserstein.data import SeededBatchStream, batch_generator
from odl_wasserstein.data.images import (
    ImageDataset, load_digits, load_mnist, read_idx, train_test_split, write_idx)

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}
IDX_DTYPES = list(TYPE_CODES)


def take(iterator, n):
    return list(itertools.islice(iterator, n))


def sample_array(dtype, shape):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype) * 1e3


# ---- IDX files ----

@pytest.mark.parametrize('dtype', IDX_DTYPES)
@pytest.mark.parametrize('shape', [(7,), (3, 4, 5), (2, 1, 3, 2)])
@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_idx_round_trip(tmp_path, dtype, shape, suffix):
    array = sample_array(dtype, shape)
    path = tmp_path / f'data-idx{len(shape)}{suffix}'
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    assert np.array_equal(back, array)
    assert back.flags.writeable
    raw = path.read_bytes()
    assert (raw[:2] == b'\x1f\x8b') == (suffix == '.gz')
    if suffix:
        raw = gzip.decompress(raw)
    # header: magic, then big-endian sizes; data big-endian
    assert raw[:4] == bytes([0, 0, TYPE_CODES[dtype], len(shape)])
    header = 4 + 4 * len(shape)
    assert [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(len(shape))] \
        == list(shape)
    assert raw[header:] == array.astype(np.dtype(dtype).newbyteorder('>')).tobytes()


def test_write_idx_accepts_big_endian_and_tensors(tmp_path):
    array = np.arange(6, dtype='>i4').reshape(2, 3)
    write_idx(tmp_path / 'a', array)
    assert np.array_equal(read_idx(tmp_path / 'a'), array)
    write_idx(str(tmp_path / 'b'), torch.arange(4, dtype=torch.float32))
    assert np.array_equal(read_idx(str(tmp_path / 'b')), [0.0, 1.0, 2.0, 3.0])
    # gzip output is reproducible (no time stamp)
    write_idx(tmp_path / 'c.gz', array)
    first = (tmp_path / 'c.gz').read_bytes()
    write_idx(tmp_path / 'c.gz', array)
    assert (tmp_path / 'c.gz').read_bytes() == first


def test_read_hand_built_idx(tmp_path):
    sizes = b'\x00\x00\x00\x02' + b'\x00\x00\x00\x03' + b'\x00\x00\x00\x04'
    raw = b'\x00\x00\x08\x03' + sizes + bytes(range(24))
    (tmp_path / 'plain').write_bytes(raw)
    expected = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    array = read_idx(tmp_path / 'plain')
    assert array.dtype == np.uint8 and np.array_equal(array, expected)
    # gzip is recognised by its magic bytes, not by the name
    (tmp_path / 'compressed').write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / 'compressed'), expected)
    # int16 big-endian: 0x0102 = 258, 0xFFFE = -2
    raw = b'\x00\x00\x0b\x01' + b'\x00\x00\x00\x02' + b'\x01\x02\xff\xfe'
    (tmp_path / 'short').write_bytes(raw)
    array = read_idx(tmp_path / 'short')
    assert array.dtype == np.int16 and array.tolist() == [258, -2]
    # float32 big-endian 1.5 = 0x3FC00000
    raw = b'\x00\x00\x0d\x01' + b'\x00\x00\x00\x01' + b'\x3f\xc0\x00\x00'
    (tmp_path / 'float').write_bytes(raw)
    assert read_idx(tmp_path / 'float').tolist() == [1.5]


def test_read_idx_errors(tmp_path):
    def write(name, raw, compress=False):
        path = tmp_path / name
        path.write_bytes(gzip.compress(raw) if compress else raw)
        return path

    good = b'\x00\x00\x08\x02' + b'\x00\x00\x00\x02\x00\x00\x00\x03' + bytes(6)
    path = write('magic', b'\x01\x00' + good[2:])
    with pytest.raises(ValueError, match='magic number starts with 0100'):
        read_idx(path)
    with pytest.raises(ValueError, match='magic'):
        read_idx(write('text', b'hello world'))
    with pytest.raises(ValueError, match=r'0x0A'):
        read_idx(write('type', b'\x00\x00\x0a' + good[3:]))
    with pytest.raises(ValueError, match=r'truncated.*needs 6 data bytes.*found 5'):
        read_idx(write('truncated', good[:-1]))
    with pytest.raises(ValueError, match=r'truncated.*needs 6 data bytes.*found 5'):
        read_idx(write('truncated.gz', good[:-1], compress=True))
    with pytest.raises(ValueError, match=r'3 trailing bytes.*needs 6.*found 9'):
        read_idx(write('trailing', good + b'abc'))
    with pytest.raises(ValueError, match=r'truncated.*header.*12 bytes, found 10'):
        read_idx(write('header', good[:10]))
    with pytest.raises(ValueError, match=r'truncated.*4 bytes, found 2'):
        read_idx(write('tiny', b'\x00\x00'))
    with pytest.raises(ValueError, match='gzip'):
        read_idx(write('damaged.gz', gzip.compress(good)[:-6]))
    # the file is named in the message
    with pytest.raises(ValueError) as info:
        read_idx(tmp_path / 'truncated')
    assert str(tmp_path / 'truncated') in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / 'missing')


def test_write_idx_errors(tmp_path):
    for array in (np.zeros(3, dtype=np.int64), np.zeros(3, dtype=bool),
                  np.zeros(3, dtype=np.complex64), np.zeros(3, dtype=np.uint16)):
        with pytest.raises(ValueError, match=str(array.dtype)):
            write_idx(tmp_path / 'x', array)
    assert not (tmp_path / 'x').exists()


# ---- MNIST ----

def fake_mnist(folder, prefix='train', n=5, spelling='-', gz=False, labels_n=None):
    raw = np.random.default_rng(1).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    raw[0, 0, 0], raw[0, 0, 1] = 0, 255
    labels = np.arange(labels_n or n, dtype=np.uint8) % 10
    ext = '.gz' if gz else ''
    write_idx(folder / f'{prefix}-images{spelling}idx3-ubyte{ext}', raw)
    write_idx(folder / f'{prefix}-labels{spelling}idx1-ubyte{ext}', labels)
    return raw, labels


@pytest.mark.parametrize('spelling', ['-', '.'])
@pytest.mark.parametrize('gz', [False, True])
@pytest.mark.parametrize('split', ['train', 'test'])
def test_load_mnist(tmp_path, spelling, gz, split):
    prefix = 'train' if split == 'train' else 't10k'
    raw, raw_labels = fake_mnist(tmp_path, prefix, spelling=spelling, gz=gz)
    images, labels = load_mnist(tmp_path, split)
    assert images.shape == (5, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(images[:, 0], torch.from_numpy(raw).to(torch.float32) / 255)
    assert np.allclose(images[:, 0].numpy(), raw / 255.0, rtol=1e-7, atol=0)
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    # the other split is not there
    other = 'test' if split == 'train' else 'train'
    with pytest.raises(FileNotFoundError):
        load_mnist(str(tmp_path), other)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    for name in ('train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz',
                 'train-images.idx3-ubyte'):
        assert name in message
    assert 'download' in message and str(tmp_path) in message
    # labels missing
    write_idx(tmp_path / 't10k-images-idx3-ubyte', np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(FileNotFoundError, match='t10k-labels-idx1-ubyte'):
        load_mnist(tmp_path, 'test')
    # counts disagree
    fake_mnist(tmp_path, n=5, labels_n=4)
    with pytest.raises(ValueError, match='5 images.*4 labels'):
        load_mnist(tmp_path)
    # not uint8 images
    write_idx(tmp_path / 't10k-labels-idx1-ubyte', np.zeros(2, np.uint8))
    write_idx(tmp_path / 't10k-images-idx3-ubyte', np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match='uint8'):
        load_mnist(tmp_path, 'test')
    with pytest.raises(ValueError, match='split'):
        load_mnist(tmp_path, 'validation')


# ---- scikit-learn digits ----

@pytest.fixture(scope='module')
def digits8():
    from sklearn.datasets import load_digits as sklearn_digits
    return torch.from_numpy(sklearn_digits().images).to(torch.float32)[:, None] / 16


def test_load_digits(digits8):
    images, labels = load_digits()
    assert images.shape == (1797, 1, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181,
                                               179, 174, 180]
    pooled = F.avg_pool2d(images, 4)
    # Bilinear x4 with align_corners=False puts the four sub-pixels of
    # source pixel j at j -+ 0.125, j -+ 0.375, so their mean is
    # 3/4 x[j] + 1/8 (x[j-1] + x[j+1]) (edges replicated): pooling gives the
    # original smoothed by [1/8, 3/4, 1/8] per axis, exactly up to rounding.
    kernel = torch.tensor([1 / 8, 3 / 4, 1 / 8])
    kernel = (kernel[:, None] * kernel[None, :])[None, None]
    smoothed = F.conv2d(F.pad(digits8, (1, 1, 1, 1), mode='replicate'), kernel)
    torch.testing.assert_close(pooled, smoothed, rtol=0, atol=1e-6)
    # Hence |pooled - x| <= 1 - (3/4)^2 = 7/16 for values in [0, 1]; the
    # strokes reach 0.396 and average 0.070 (measured), far below the 0.5
    # mean error of unrelated images.
    error = (pooled - digits8).abs()
    assert float(error.max()) <= 7 / 16
    assert 0.05 < float(error.mean()) < 0.08
    # nearest neighbour only repeats pixels
    nearest, _ = load_digits(32, 'nearest')
    assert torch.equal(F.avg_pool2d(nearest, 4), digits8)
    assert torch.equal(nearest[:, :, ::4, ::4], digits8)
    # bicubic overshoots; the result is clipped
    bicubic, _ = load_digits(20, 'bicubic')
    assert bicubic.shape == (1797, 1, 20, 20)
    assert float(bicubic.min()) == 0.0 and float(bicubic.max()) == 1.0
    # size 8 is the original
    assert torch.equal(load_digits(8)[0], digits8)


def test_load_digits_errors():
    for size in (7, 0):
        with pytest.raises(ValueError, match='size'):
            load_digits(size)
    for size in (32.0, True):
        with pytest.raises(TypeError, match='size'):
            load_digits(size)
    with pytest.raises(ValueError, match='area'):
        load_digits(16, 'area')


# ---- train/test split ----

def test_train_test_split():
    images = torch.arange(50.0)[:, None, None, None].expand(50, 1, 2, 2).clone()
    labels = torch.arange(50) * 10
    train, test = train_test_split(images, seed=3)
    assert train.shape == (40, 1, 2, 2) and test.shape == (10, 1, 2, 2)
    train_ids, test_ids = set(train[:, 0, 0, 0].tolist()), set(test[:, 0, 0, 0].tolist())
    assert not train_ids & test_ids and train_ids | test_ids == set(range(50))
    # deterministic for a seed, different for another
    again = train_test_split(images, seed=3)
    assert torch.equal(again[0], train) and torch.equal(again[1], test)
    assert not torch.equal(train_test_split(images, seed=4)[1], test)
    # the permutation is that of the seed
    order = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(test, images[order[:10]])
    # labels follow their images
    tr_x, tr_y, te_x, te_y = train_test_split(images, labels, test_fraction=0.3, seed=3)
    assert len(tr_x) == len(tr_y) == 35 and len(te_x) == len(te_y) == 15
    assert torch.equal(tr_y, tr_x[:, 0, 0, 0].long() * 10)
    assert torch.equal(te_y, te_x[:, 0, 0, 0].long() * 10)
    # sizes round(n * fraction), Python's rounding
    for n, fraction, expected in [(10, 0.25, 2), (10, 0.35, 4), (7, 0.5, 4),
                                  (5, 0.0, 0), (5, 1.0, 5)]:
        train, test = train_test_split(torch.zeros(n, 1), test_fraction=fraction)
        assert (len(train), len(test)) == (n - expected, expected)


def test_train_test_split_errors():
    images = torch.zeros(10, 1, 2, 2)
    with pytest.raises(TypeError, match='images'):
        train_test_split(np.zeros((10, 1)))
    with pytest.raises(ValueError, match='images'):
        train_test_split(torch.tensor(1.0))
    with pytest.raises(TypeError, match='labels'):
        train_test_split(images, list(range(10)))
    with pytest.raises(ValueError, match='10 entries.*got 9'):
        train_test_split(images, torch.zeros(9))
    for fraction in (-0.1, 1.5, float('nan')):
        with pytest.raises(ValueError, match='test_fraction'):
            train_test_split(images, test_fraction=fraction)
    with pytest.raises(TypeError, match='test_fraction'):
        train_test_split(images, test_fraction=True)
    with pytest.raises(ValueError, match='seed'):
        train_test_split(images, seed=-1)


# ---- ImageDataset ----

def image_pool(n=20):
    """Images whose first pixel is their index, to identify them in batches."""
    images = torch.rand(n, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)
    return images


def ids(batch):
    return batch[:, 0, 0, 0].long().tolist()


def test_image_dataset_batches():
    images = image_pool()
    dataset = ImageDataset(images, batch_size=6, seed=4)
    assert isinstance(dataset, SeededBatchStream)
    assert dataset.images is not None and dataset.batch_size == 6 and dataset.seed == 4
    batch = dataset.batch(2)
    assert batch.shape == (6, 2, 3, 3) and batch.dtype == torch.float32
    # the indices are the first entries of the seeded permutation
    chosen = torch.randperm(20, generator=batch_generator(4, 2))[:6]
    assert torch.equal(batch, images[chosen])
    for k in range(10):
        assert len(set(ids(dataset.batch(k)))) == 6
    # a pure function of (seed, k), whatever was asked before
    other = ImageDataset(images.clone(), batch_size=6, seed=4)
    assert torch.equal(other.batch(7), dataset.batch(7))
    assert torch.equal(other.batch(2), batch)
    assert not torch.equal(dataset.batch(3), batch)
    assert not torch.equal(ImageDataset(images, 6, seed=5).batch(2), batch)
    # batches are copies
    batch.zero_()
    assert torch.equal(dataset.images, images)
    # the validation stream differs from the training stream
    assert ids(dataset.batch(2, 'validation')) != ids(dataset.batch(2))


def test_image_dataset_stream_and_resume():
    dataset = ImageDataset(image_pool(), batch_size=4, seed=1)
    full = take(dataset.batches(), 6)
    assert all(torch.equal(item, dataset.batch(k)) for k, item in enumerate(full))
    assert torch.equal(next(dataset.batches(start=3)), dataset.batch(3))
    assert all(torch.equal(a, b) for a, b in zip(take(dataset.batches(start=2), 4), full[2:]))
    assert len(list(dataset.batches(start=1, stop=4))) == 3
    # iter(dataset) follows the start attribute
    positioned = ImageDataset(image_pool(), batch_size=4, seed=1, start=2)
    assert torch.equal(next(iter(positioned)), dataset.batch(2))
    validation = take(dataset.batches(split='validation'), 2)
    assert torch.equal(validation[1], dataset.batch(1, 'validation'))


@pytest.mark.parametrize('world_size', [2, 3])
def test_image_dataset_ranks(world_size):
    dataset = ImageDataset(image_pool(), batch_size=3, seed=2)
    for start in (0, 2):
        for rank in range(world_size):
            stream = dataset.batches(start=start, rank=rank, world_size=world_size)
            for step, item in enumerate(take(stream, 3), start):
                assert torch.equal(item, dataset.batch(step * world_size + rank))
    # the ranks together consume the single-process sequence
    streams = [take(dataset.batches(rank=r, world_size=world_size), 2)
               for r in range(world_size)]
    merged = [item for step in zip(*streams) for item in step]
    single = take(dataset.batches(), 2 * world_size)
    assert all(torch.equal(a, b) for a, b in zip(merged, single))
    positioned = ImageDataset(image_pool(), 3, seed=2, start=1, rank=1, world_size=world_size)
    assert torch.equal(next(iter(positioned)), dataset.batch(world_size + 1))


def test_image_dataset_repeat():
    dataset = ImageDataset(image_pool(), batch_size=5, seed=3, repeat=3)
    plain = ImageDataset(image_pool(), batch_size=5, seed=3)
    items = take(dataset.batches(), 7)
    for k, item in enumerate(items):
        assert torch.equal(item, plain.batch(k // 3))
    assert torch.equal(items[0], items[2]) and not torch.equal(items[2], items[3])


def test_image_dataset_workers_and_pickle():
    dataset = ImageDataset(image_pool(), batch_size=4, seed=6)
    serial = take(dataset.batches(start=1), 5)
    parallel = take(dataset.batches(start=1, num_workers=2), 5)
    assert len(parallel) == 5
    assert all(torch.equal(a, b) for a, b in zip(parallel, serial))
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone.images, dataset.images)
    assert torch.equal(clone.batch(3), dataset.batch(3))
    assert (clone.batch_size, clone.seed, clone.repeat) == (4, 6, 1)


def test_image_dataset_errors():
    images = image_pool(5)
    with pytest.raises(TypeError, match='floating'):
        ImageDataset(images.long(), 2)
    with pytest.raises(TypeError, match='floating'):
        ImageDataset(images.numpy(), 2)
    with pytest.raises(ValueError, match=r'\(N, C'):
        ImageDataset(images[:, 0, 0], 2)
    with pytest.raises(ValueError, match='batch_size'):
        ImageDataset(images, 0)
    with pytest.raises(ValueError, match='`batch_size` 6 exceeds the 5 images'):
        ImageDataset(images, 6)
    bad = images.clone()
    bad[1, 0, 1, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        ImageDataset(bad, 2)
    for kwargs, match in [({'seed': -1}, 'seed'), ({'repeat': 0}, 'repeat'),
                          ({'start': -1}, 'start')]:
        with pytest.raises(ValueError, match=match):
            ImageDataset(images, 2, **kwargs)
    with pytest.raises(TypeError):
        ImageDataset(images, 2, noise_level=0.1)
    dataset = ImageDataset(images, 2)
    with pytest.raises(ValueError, match='rank'):
        dataset.batches(rank=2, world_size=2)
    with pytest.raises(ValueError, match='split'):
        dataset.batch(0, 'test')


def test_seeded_batch_stream_is_abstract():
    with pytest.raises(NotImplementedError, match='generate'):
        SeededBatchStream(0).batch(0)
