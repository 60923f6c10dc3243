"""The "shapes" images of Duff et al., generated in PyTorch.

Duff, Ehrhardt and Campbell, "Solving inverse imaging problems with
generative machine learning models", train their generators on 56 x 56
images of one filled circle and one filled axis-aligned rectangle. The
ranges are those of the authors' script (``shapes/datasets/2D-shapes-data.py``
of their repository), in pixels of a 56 x 56 image:

- circle: centre uniform in ``{28, ..., 41}`` on each axis, radius uniform
  in ``{6, ..., 13}``; a pixel is inside when its distance to the centre
  is at most the radius;
- rectangle: top-left corner uniform in ``{0, ..., 13}`` on each axis,
  extent uniform in ``{6, ..., 13}`` per axis, both corners included
  (``extent + 1`` pixels per side);
- both shapes are painted with value 1 (OpenCV's drawing overwrites, so
  they do not add where they overlap) and the image is halved: every
  pixel is 0 or 0.5.

Other image sizes scale these ranges by ``side / 56``. For images outside
the generators' range, ``n_extra`` paints further filled triangles (our
choice of "an added third shape"; the authors' own out-of-distribution set
adds a bright spot instead), with the same value. Everything is drawn from
a `torch.Generator` and rasterised by broadcasting, without a loop over
pixels or images. `ShapesDataset` serves them as a seeded, resumable
stream (`odl_wasserstein.data.SeededBatchStream`).
"""

import math

import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.phantoms import _batch_size, _float_dtype, _image_shape
from odl_wasserstein.util import as_generator, check_int

__all__ = ('random_shapes', 'ShapesDataset', 'shapes_set')

# The authors' ranges for a 56-pixel side, as half-open integer ranges
# [low, high) (NumPy's ``randint``); they scale with the image.
_REFERENCE_SIDE = 56
_CIRCLE_CENTRE = (28, 42)
_CIRCLE_RADIUS = (6, 14)
_RECTANGLE_CORNER = (0, 14)
_RECTANGLE_EXTENT = (6, 14)
# Our triangles: height and the two half-widths of the base (pixels at 56).
_TRIANGLE_HEIGHT = (8, 17)
_TRIANGLE_HALF_BASE = (3, 9)
_VALUE = 0.5
# Images per generated batch of `shapes_set`, so that a set of n images
# is a prefix of any larger set.
_SET_CHUNK = 100


def _scaled_range(bounds, side, minimum=0):
    """The integer range ``[low, high)`` of ``bounds`` scaled to ``side`` pixels."""
    scale = side / _REFERENCE_SIDE
    low = max(int(round(bounds[0] * scale)), minimum)
    return low, max(int(round(bounds[1] * scale)), low + 1)


def _randint(bounds, size, generator, device):
    return torch.randint(bounds[0], bounds[1], size, generator=generator, device=device)


def _grid(shape, device):
    rows = torch.arange(shape[0], device=device).view(1, -1, 1)
    cols = torch.arange(shape[1], device=device).view(1, 1, -1)
    return rows, cols


def _circles(shape, batch, generator, device):
    side = min(shape)
    centre = torch.stack([_randint(_scaled_range(_CIRCLE_CENTRE, n), (batch,), generator,
                                   device) for n in shape], -1)
    radius = _randint(_scaled_range(_CIRCLE_RADIUS, side, 1), (batch,), generator, device)
    rows, cols = _grid(shape, device)
    # Integer arithmetic: the test is exact, whatever the output dtype.
    distance2 = ((rows - centre[:, 0, None, None]) ** 2
                 + (cols - centre[:, 1, None, None]) ** 2)
    return distance2 <= radius[:, None, None] ** 2


def _rectangles(shape, batch, generator, device):
    corner = torch.stack([_randint(_scaled_range(_RECTANGLE_CORNER, n), (batch,),
                                   generator, device) for n in shape], -1)
    extent = torch.stack([_randint(_scaled_range(_RECTANGLE_EXTENT, n, 1), (batch,),
                                   generator, device) for n in shape], -1)
    low, high = corner[:, :, None, None], (corner + extent)[:, :, None, None]
    rows, cols = _grid(shape, device)
    return ((rows >= low[:, 0]) & (rows <= high[:, 0])
            & (cols >= low[:, 1]) & (cols <= high[:, 1]))


def _triangles(shape, batch, count, generator, device):
    """``count`` filled triangles per image, apex up, anywhere in the image."""
    size = (batch, count)
    height = _randint(_scaled_range(_TRIANGLE_HEIGHT, shape[0], 1), size, generator, device)
    half_base = _scaled_range(_TRIANGLE_HALF_BASE, shape[1], 1)
    left, right = (_randint(half_base, size, generator, device) for _ in range(2))
    # Positions uniform among those that keep the triangle inside the image.
    u = torch.rand((2,) + size, generator=generator, dtype=torch.float64, device=device)
    top = (u[0] * (shape[0] - height).clamp_min(1)).long()
    apex = left + (u[1] * (shape[1] - left - right).clamp_min(1)).long()
    rows, cols = (axis[:, None] for axis in _grid(shape, device))
    top, height, apex = top[..., None, None], height[..., None, None], apex[..., None, None]
    depth = (rows - top) / height  # 0 at the apex, 1 on the base
    inside = ((depth >= 0) & (depth <= 1)
              & (cols >= apex - depth * left[..., None, None])
              & (cols <= apex + depth * right[..., None, None]))
    return inside.any(dim=1)


def random_shapes(shape=(56, 56), batch_size=None, generator=None, n_extra=0,
                  dtype=torch.float32, device=None):
    """Draw images of one circle and one rectangle, values halved (Duff et al.).

    Parameters
    ----------
    shape : int or (int, int), optional
        Image shape ``(H, W)``; the authors' is 56 x 56, other sizes scale
        the ranges of the module notes by ``side / 56``.
    batch_size : int, optional
        Number of images ``N``; None for a single image.
    generator : torch.Generator or int, optional
        Source of all randomness, or a seed; None uses torch's global
        generator.
    n_extra : int, optional
        Filled triangles added to every image, outside the training
        distribution (0 for the authors' set).
    dtype : torch.dtype, optional
        Floating-point type of the result.
    device : str or torch.device, optional
        Device of the result; default the generator's (CPU without one).
        The shapes are drawn on the generator's device, so a seed gives
        the same images on every device.

    Returns
    -------
    torch.Tensor
        ``(N, 1, H, W)``, or ``(1, H, W)`` for ``batch_size=None``, with
        values 0 and 0.5 (the union of the shapes, halved).

    Examples
    --------
    >>> images = random_shapes(batch_size=4, generator=0)
    >>> images.shape, sorted(images.unique().tolist())
    (torch.Size([4, 1, 56, 56]), [0.0, 0.5])
    >>> bool(torch.equal(images, random_shapes(batch_size=4, generator=0)))
    True

    A triangle more adds mass to the same circle and rectangle:

    >>> odd = random_shapes(batch_size=4, generator=0, n_extra=1)
    >>> bool((odd >= images).all()), bool(odd.sum() > images.sum())
    (True, True)
    """
    shape = _image_shape(shape)
    batch = _batch_size(batch_size)
    n_extra = check_int(n_extra, 'n_extra')
    dtype = _float_dtype(dtype)
    generator = as_generator(generator)
    draw_device = 'cpu' if generator is None else generator.device
    # Base shapes first: the same generator state gives the same circle and
    # rectangle whatever n_extra is.
    union = _circles(shape, batch, generator, draw_device)
    union |= _rectangles(shape, batch, generator, draw_device)
    if n_extra:
        union |= _triangles(shape, batch, n_extra, generator, draw_device)
    images = (_VALUE * union).to(dtype=dtype, device=device)[:, None]
    return images if batch_size is not None else images[0]


class ShapesDataset(SeededBatchStream):
    """Infinite stream of shapes batches (Duff et al.), seeded and resumable.

    Batch ``k`` is ``random_shapes(shape, batch_size,
    batch_generator(seed, k, split), n_extra)``: a pure function of
    ``(seed, k, split)``, so training resumes exactly and held-out images
    come from the ``'validation'`` stream, which never repeats a training
    image's draw.

    Parameters
    ----------
    batch_size : int
        Images per batch ``N`` (50 in the paper's GAN training).
    shape : int or (int, int), optional
        Image shape ``(H, W)``.
    seed : int, optional
        Seed of the stream.
    n_extra : int, optional
        Out-of-distribution triangles per image (see `random_shapes`).
    dtype : torch.dtype, optional
        Floating-point type of the images.
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of
        `odl_wasserstein.data.SeededBatchStream`.

    Notes
    -----
    Every item is a CPU tensor ``(N, 1, H, W)`` with values 0 and 0.5.

    Examples
    --------
    >>> dataset = ShapesDataset(batch_size=8, seed=1)
    >>> dataset.batch(3).shape
    torch.Size([8, 1, 56, 56])
    >>> bool(torch.equal(dataset.batch(3), next(dataset.batches(start=3))))
    True
    >>> bool(torch.equal(dataset.batch(3), dataset.batch(3, split='validation')))
    False
    """

    def __init__(self, batch_size, shape=(56, 56), seed=0, n_extra=0,
                 dtype=torch.float32, **kwargs):
        super().__init__(seed, **kwargs)
        self.batch_size = check_int(batch_size, 'batch_size', minimum=1)
        self.shape = _image_shape(shape)
        self.n_extra = check_int(n_extra, 'n_extra')
        self.dtype = _float_dtype(dtype)

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
            ``(batch_size, 1, H, W)``.
        """
        return random_shapes(self.shape, self.batch_size,
                             batch_generator(self.seed, index, split),
                             n_extra=self.n_extra, dtype=self.dtype)


def shapes_set(n, shape=(56, 56), seed=0, split='validation', n_extra=0,
               dtype=torch.float32):
    """A fixed set of ``n`` shapes images, e.g. the held-out test images.

    The images are the first ``n`` of batches ``0, 1, ...`` of a
    `ShapesDataset` of 100 images per batch on the ``split`` stream, so a
    set is a prefix of every larger set with the same arguments.

    Parameters
    ----------
    n : int
        Number of images.
    shape : int or (int, int), optional
        Image shape ``(H, W)``.
    seed : int, optional
        Seed of the stream.
    split : {'validation', 'train'}, optional
        Seed stream; the default is disjoint from training streams.
    n_extra : int, optional
        Out-of-distribution triangles per image (see `random_shapes`).
    dtype : torch.dtype, optional
        Floating-point type of the images.

    Returns
    -------
    torch.Tensor
        ``(n, 1, H, W)``.

    Examples
    --------
    >>> test_images = shapes_set(10, seed=0)
    >>> test_images.shape
    torch.Size([10, 1, 56, 56])
    >>> bool(torch.equal(shapes_set(3, seed=0), test_images[:3]))
    True
    """
    n = check_int(n, 'n')
    dataset = ShapesDataset(_SET_CHUNK, shape, seed=seed, n_extra=n_extra, dtype=dtype)
    batches = [dataset.generate(index, split) for index in range(math.ceil(n / _SET_CHUNK))]
    if not batches:
        return torch.zeros((0, 1) + dataset.shape, dtype=dataset.dtype)
    return torch.cat(batches)[:n]
