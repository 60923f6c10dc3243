"""Image datasets for GAN training: MNIST files, scikit-learn's digits.

- `read_idx` and `write_idx`: the IDX format of MNIST and Fashion-MNIST
  (plain or gzip-compressed), as NumPy arrays;
- `load_mnist`: the images and labels of MNIST or Fashion-MNIST from the
  original files, which the user supplies (nothing is downloaded);
- `load_digits`: the 1797 8 x 8 handwritten digits shipped with
  scikit-learn, upsampled, a small data set that needs no files;
- `train_test_split`: a seeded split into training and held-out images;
- `ImageDataset`: an infinite, seeded and resumable stream of random
  batches of stored images, a `odl_wasserstein.data.SeededBatchStream`
  like the CT datasets, so that `odl_wasserstein.training.Trainer` resumes
  it exactly and splits it over ranks and DataLoader workers.

Images are float32 tensors ``(N, C, H, W)`` with values in ``[0, 1]``;
labels are int64 tensors ``(N,)``.
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.util import check_choice, check_finite, check_int, check_real

__all__ = (
    'read_idx',
    'write_idx',
    'load_mnist',
    'load_digits',
    'train_test_split',
    'ImageDataset',
)

# IDX type byte -> element type as stored (big-endian).
_IDX_TYPES = {
    0x08: np.dtype('u1'),
    0x09: np.dtype('i1'),
    0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'),
    0x0D: np.dtype('>f4'),
    0x0E: np.dtype('>f8'),
}

_GZIP_MAGIC = b'\x1f\x8b'


def read_idx(path):
    """Read an IDX file (the format of MNIST), plain or gzip-compressed.

    An IDX file is a 4-byte magic number, two zero bytes, a type byte
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E
    float64) and the number of dimensions ``d``, followed by ``d``
    big-endian uint32 sizes and the data in C order, big-endian.
    Compressed files are recognised by the gzip magic bytes, whatever
    their name.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        The data, of the stored type in native byte order.

    Raises
    ------
    ValueError
        If the file is not a well-formed IDX file: bad magic number,
        unknown type byte, or more or fewer data bytes than the sizes
        announce.

    See Also
    --------
    write_idx

    Examples
    --------
    A 2 x 3 array of uint8 (type 0x08, 2 dimensions):

    >>> import os, tempfile
    >>> raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'example-idx2-ubyte')
    ...     with open(path, 'wb') as file:
    ...         _ = file.write(raw)
    ...     read_idx(path)
    array([[  1,   2,   3],
           [  4,   5, 255]], dtype=uint8)
    """
    name = os.fspath(path)
    with open(path, 'rb') as file:
        raw = file.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f'{name!r} is a damaged gzip file: {error}') from error
    if len(raw) < 4:
        raise ValueError(
            f'{name!r} is truncated: an IDX header needs at least 4 bytes, '
            f'found {len(raw)}')
    if raw[:2] != b'\x00\x00':
        raise ValueError(
            f'{name!r} is not an IDX file: its magic number starts with '
            f'{raw[:2].hex()} instead of 0000')
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(
            f'{name!r} has the unknown IDX type byte 0x{code:02X}; known are '
            + ', '.join(f'0x{key:02X} ({value.name})' for key, value in _IDX_TYPES.items()))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f'{name!r} is truncated: the header of {ndim} dimensions needs '
            f'{header} bytes, found {len(raw)}')
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    dtype = _IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = ('is truncated' if found < expected
                   else f'has {found - expected} trailing bytes')
        raise ValueError(
            f'{name!r} {problem}: shape {shape} of {dtype.name} needs {expected} '
            f'data bytes after the {header}-byte header, found {found}')
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    # astype copies into a writable array of native byte order.
    return data.reshape(shape).astype(dtype.newbyteorder('='))


def write_idx(path, array):
    """Write an array as an IDX file, gzip-compressed if the name ends with ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; it is overwritten.
    array : array-like
        Data of type uint8, int8, int16, int32, float32 or float64 (any
        byte order), at most 255 dimensions of fewer than ``2**32`` entries
        each.

    See Also
    --------
    read_idx

    Examples
    --------
    >>> import os, tempfile
    >>> array = np.linspace(0, 1, 6, dtype=np.float32).reshape(1, 2, 3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, 'example.idx3.gz')
    ...     write_idx(path, array)
    ...     bool(np.array_equal(read_idx(path), array))
    True
    """
    array = np.asarray(array)
    for code, stored in _IDX_TYPES.items():
        if array.dtype.kind == stored.kind and array.dtype.itemsize == stored.itemsize:
            break
    else:
        raise ValueError(
            f'IDX stores uint8, int8, int16, int32, float32 or float64, got '
            f'{array.dtype}; convert first, e.g. array.astype(np.int32)')
    if any(n >= 2 ** 32 for n in array.shape):
        raise ValueError(f'IDX sizes must be < 2**32, got shape {array.shape}')
    header = bytes([0, 0, code, array.ndim])
    header += b''.join(int(n).to_bytes(4, 'big') for n in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=stored).tobytes()
    if os.fspath(path).endswith('.gz'):
        # mtime=0: the same array gives the same file.
        payload = gzip.compress(payload, mtime=0)
    with open(path, 'wb') as file:
        file.write(payload)


_MNIST_SPLITS = {'train': 'train', 'test': 't10k'}


def _find_mnist_file(folder, prefix, kind, ndim):
    """Return the first existing spelling of an MNIST file, or raise."""
    names = [f'{prefix}-{kind}-idx{ndim}-ubyte{ext}' for ext in ('', '.gz')]
    names += [f'{prefix}-{kind}.idx{ndim}-ubyte{ext}' for ext in ('', '.gz')]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f'no {kind} file in {str(folder)!r}: looked for {", ".join(names)}. '
        'odl_wasserstein cannot download data sets; put the original MNIST '
        'or Fashion-MNIST files (they have the same names) in that folder')


def load_mnist(folder, split='train'):
    """Load MNIST or Fashion-MNIST from the original IDX files.

    The files are read from ``folder`` under their original names,
    ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``,
    plain or with ``.gz``, or spelled ``train-images.idx3-ubyte`` as some
    mirrors do. Fashion-MNIST uses the same names and format. The package
    does not download them.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the files.
    split : {'train', 'test'}, optional
        The training (60000 images) or test (10000 images) files.

    Returns
    -------
    images : torch.Tensor
        float32 ``(N, 1, H, W)`` (``H = W = 28``), the stored bytes / 255,
        in ``[0, 1]``.
    labels : torch.Tensor
        int64 ``(N,)``.

    Raises
    ------
    FileNotFoundError
        If no spelling of an image or label file is in ``folder``.
    ValueError
        If the files are not uint8 images ``(N, H, W)`` and integer labels
        ``(N,)`` of the same ``N``.

    Examples
    --------
    Three fake 28 x 28 images written in the MNIST format:

    >>> import tempfile
    >>> raw = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_idx(os.path.join(folder, 't10k-images-idx3-ubyte.gz'), raw)
    ...     write_idx(os.path.join(folder, 't10k-labels-idx1-ubyte.gz'),
    ...               np.array([7, 2, 1], dtype=np.uint8))
    ...     images, labels = load_mnist(folder, 'test')
    >>> images.shape, images.dtype, labels
    (torch.Size([3, 1, 28, 28]), torch.float32, tensor([7, 2, 1]))
    >>> bool(torch.equal(images[:, 0], torch.from_numpy(raw).float() / 255))
    True
    """
    check_choice(split, 'split', sorted(_MNIST_SPLITS))
    folder = Path(folder)
    prefix = _MNIST_SPLITS[split]
    image_file = _find_mnist_file(folder, prefix, 'images', 3)
    label_file = _find_mnist_file(folder, prefix, 'labels', 1)
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f'{str(image_file)!r} must hold uint8 images (N, H, W), got '
            f'{images.dtype} of shape {images.shape}')
    if labels.dtype.kind not in 'iu' or labels.ndim != 1:
        raise ValueError(
            f'{str(label_file)!r} must hold integer labels (N,), got '
            f'{labels.dtype} of shape {labels.shape}')
    if len(images) != len(labels):
        raise ValueError(
            f'{str(image_file)!r} holds {len(images)} images but '
            f'{str(label_file)!r} {len(labels)} labels')
    images = torch.from_numpy(images)[:, None].to(torch.float32).div_(255)
    return images, torch.from_numpy(labels.astype(np.int64))


_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic')


def load_digits(size=32, interpolation='bilinear'):
    """Load scikit-learn's 1797 handwritten digits, upsampled to ``size`` x ``size``.

    The 8 x 8 images of `sklearn.datasets.load_digits` (grey levels 0 to
    16, shipped with scikit-learn, no download) are scaled to ``[0, 1]``
    and resampled by `torch.nn.functional.interpolate`
    (``align_corners=False``).

    Parameters
    ----------
    size : int, optional
        Side of the returned images, at least 8.
    interpolation : {'bilinear', 'nearest', 'bicubic'}, optional
        Resampling; bicubic values are clipped to ``[0, 1]``.

    Returns
    -------
    images : torch.Tensor
        float32 ``(1797, 1, size, size)`` in ``[0, 1]``.
    labels : torch.Tensor
        int64 ``(1797,)``, the digits 0 to 9.

    Examples
    --------
    >>> images, labels = load_digits(16)
    >>> images.shape, labels.shape
    (torch.Size([1797, 1, 16, 16]), torch.Size([1797]))
    >>> float(images.min()), float(images.max()), labels[:5].tolist()
    (0.0, 1.0, [0, 1, 2, 3, 4])
    """
    size = check_int(size, 'size', 8)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f'`interpolation` must be one of {_INTERPOLATIONS}, got {interpolation!r}')
    # Imported here: scikit-learn is slow to import and only needed here.
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = torch.from_numpy(digits.images).to(torch.float32)[:, None] / 16
    # 'nearest' takes no align_corners argument.
    align = None if interpolation == 'nearest' else False
    images = torch.nn.functional.interpolate(images, size=(size, size), mode=interpolation,
                                             align_corners=align)
    if interpolation == 'bicubic':
        # Cubic kernels overshoot next to edges.
        images = images.clamp_(0, 1)
    return images.contiguous(), torch.from_numpy(digits.target.astype(np.int64))


def train_test_split(images, labels=None, test_fraction=0.2, seed=0):
    """Split images (and labels) into training and held-out parts, seeded.

    A random permutation drawn from ``seed`` puts the first
    ``round(N * test_fraction)`` samples into the test part and the others
    into the training part, both in permuted order.

    Parameters
    ----------
    images : torch.Tensor
        Samples along the first axis, ``(N, ...)``.
    labels : torch.Tensor, optional
        Labels ``(N, ...)`` split alike.
    test_fraction : float, optional
        Fraction of held-out samples, in ``[0, 1]``.
    seed : int, optional
        Seed of the permutation; the same seed gives the same split.

    Returns
    -------
    tuple of torch.Tensor
        ``(train_images, test_images)``, or with labels
        ``(train_images, train_labels, test_images, test_labels)``.

    Examples
    --------
    >>> images = torch.arange(10.0)[:, None]
    >>> train, test = train_test_split(images, test_fraction=0.3, seed=1)
    >>> train.shape, test.shape
    (torch.Size([7, 1]), torch.Size([3, 1]))
    >>> sorted(torch.cat([train, test])[:, 0].tolist()) == images[:, 0].tolist()
    True
    """
    for name, value in (('images', images), ('labels', labels)):
        if value is None and name == 'labels':
            continue
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f'`{name}` must be a torch.Tensor (N, ...), got {type(value).__name__}')
        if value.ndim == 0:
            raise ValueError(f'`{name}` must have a sample axis (N, ...), got a scalar')
    n = len(images)
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f'`labels` must have {n} entries like `images`, got {len(labels)}')
    check_real(test_fraction, 'test_fraction', minimum=0, maximum=1)
    seed = check_int(seed, 'seed')
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = round(n * test_fraction)
    test, train = order[:n_test], order[n_test:]
    if labels is None:
        return images[train.to(images.device)], images[test.to(images.device)]
    return (images[train.to(images.device)], labels[train.to(labels.device)],
            images[test.to(images.device)], labels[test.to(labels.device)])


class ImageDataset(SeededBatchStream):
    """Infinite stream of random batches of stored images, seeded and resumable.

    Batch ``k`` holds ``batch_size`` distinct images, chosen by
    ``torch.randperm(N, generator=batch_generator(seed, k, split))[:batch_size]``,
    so it is a pure function of ``(seed, k)``: training resumes exactly,
    and ranks and DataLoader workers split the stream as described in
    `odl_wasserstein.data.SeededBatchStream.batches`. Batches are drawn
    independently (with replacement across batches), not in epochs.

    Parameters
    ----------
    images : torch.Tensor
        Floating-point images ``(N, C, *spatial)`` with ``N >= batch_size``,
        e.g. from `load_mnist` or `load_digits`. DataLoader workers
        receive them by fork or pickling.
    batch_size : int
        Images per batch ``B``.
    seed : int, optional
        Seed of the stream.
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of
        `odl_wasserstein.data.SeededBatchStream`.

    Attributes
    ----------
    images : torch.Tensor
        The stored images.
    batch_size : int
        Images per batch.
    seed : int
        Seed of the stream.

    Notes
    -----
    Every item is a tensor ``(B, C, *spatial)`` of the images' dtype and
    device, a copy. The ``'validation'`` split draws other batches from
    the *same* images; for held-out images use `train_test_split` and a
    second dataset.

    Examples
    --------
    >>> images = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> dataset = ImageDataset(images, batch_size=3, seed=5)
    >>> dataset.batch(3).shape
    torch.Size([3, 1, 4, 4])
    >>> bool(torch.equal(dataset.batch(3), next(dataset.batches(start=3))))
    True
    """

    def __init__(self, images, batch_size, seed=0, **kwargs):
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise TypeError(
                '`images` must be a floating-point torch.Tensor (N, C, ...), got '
                f'{getattr(images, "dtype", type(images).__name__)}')
        if images.ndim < 3:
            raise ValueError(
                f'`images` must have shape (N, C, *spatial), got {tuple(images.shape)}')
        batch_size = check_int(batch_size, 'batch_size', 1)
        if len(images) < batch_size:
            raise ValueError(
                f'`batch_size` {batch_size} exceeds the {len(images)} images')
        check_finite(images, 'images')
        super().__init__(seed, **kwargs)
        self.images = images.detach()
        self.batch_size = batch_size

    def generate(self, index, split='train'):
        """Draw batch number ``index`` of a seed stream, ignoring ``repeat``.

        Parameters
        ----------
        index : int
            Non-negative number of the generated batch.
        split : {'train', 'validation'}, optional
            Seed stream (see `odl_wasserstein.data.batch_generator`).

        Returns
        -------
        torch.Tensor
            ``(batch_size, C, *spatial)``.
        """
        generator = batch_generator(self.seed, index, split)
        chosen = torch.randperm(len(self.images), generator=generator)[:self.batch_size]
        return self.images[chosen.to(self.images.device)]
