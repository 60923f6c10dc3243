"""Undersampled multi-coil MRI: the inputs and labels of Lei et al.'s unpaired WGAN.

Lei et al., "Wasserstein GANs for MR imaging: from paired to unpaired
training" (section IV.A), reconstruct 8-coil Cartesian knee data
undersampled by variable-density Poisson masks with a fully sampled
20 x 20 centre at 256 x 320 (accelerations 5, 7, 9 and 10); the network
input is the zero-filled image ``A^H b`` of the masked k-space ``b = M y``
(eqs. (7)-(8), ``A = M F S``), and the labels are fully sampled images,
complex or magnitude only, of the same subjects (paired), of other
subjects (unpaired, disjoint) or of a subset of them (partial labels).

- `scaled_calibration` and `sampling_mask`: the paper's Poisson mask with
  its calibration square scaled to the image size, and 1-D line masks
  with the same fully sampled centre;
- `MulticoilMRIDataset`: a seeded, resumable stream of masked multi-coil
  k-space, coil maps (given or estimated from the calibration region,
  `odl_wasserstein.operators.estimate_coil_maps`), zero-filled images and
  labels, made from a stream of fully sampled multi-coil k-space (the
  simulator `SimulatedMRIDataset` with ``num_coils``, or fastMRI
  multi-coil files through `FastMRICoilDataset`). Disjoint subjects of
  the input and label streams give the unpaired settings.
"""

import functools

import numpy as np
import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.mri import check_raw_stream, normalize_mri_images
from odl_wasserstein.data.phantoms import _image_shape
from odl_wasserstein.operators.coils import estimate_coil_maps
from odl_wasserstein.operators.masks import (
    fastmri_lines_mask, poisson_disc_mask, variable_density_lines_mask)
from odl_wasserstein.operators.mri import coil_fourier_adjoint
from odl_wasserstein.util import check_choice, check_int, check_real, complex_to_channels

__all__ = ('MULTICOIL_MASKS', 'scaled_calibration', 'sampling_mask', 'MulticoilMRIDataset')

MULTICOIL_MASKS = ('poisson', 'lines', 'fastmri')
"""Kinds of `sampling_mask`: 2-D Poisson disc, 1-D variable density, fastMRI's lines."""

# The paper's calibration square: 20 x 20 at 256 x 320.
_CALIBRATION, _REFERENCE_SIZE, _MIN_CALIBRATION = 20, 256, 4
# spawn_key of the mask bank: apart from the batch streams (0 train, 1 validation).
_BANK_KEY = 2


def scaled_calibration(shape):
    """Side of the calibration square: the paper's 20 at 256 x 320, scaled to ``shape``.

    ``round(20 * min(H, W) / 256)``, at least 4.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.

    Returns
    -------
    int

    Examples
    --------
    >>> scaled_calibration((256, 320)), scaled_calibration(128), scaled_calibration((32, 48))
    (20, 10, 4)
    """
    side = min(_image_shape(shape))
    return max(_MIN_CALIBRATION, round(_CALIBRATION * side / _REFERENCE_SIZE))


def sampling_mask(kind, shape, acceleration, calibration=None, seed=None):
    """A k-space mask with a fully sampled centre, as a float32 tensor ``(1, 1, H, W)``.

    - ``'poisson'``: the paper's 2-D variable-density Poisson-disc mask
      (`odl_wasserstein.operators.masks.poisson_disc_mask`) with a fully
      sampled ``calibration x calibration`` square; its realised
      acceleration is within 5 % of ``acceleration``;
    - ``'lines'``: ``round(W / R)`` lines along the last axis drawn with a
      density falling off from the centre
      (`odl_wasserstein.operators.masks.variable_density_lines_mask`), the
      ``calibration`` central lines included;
    - ``'fastmri'``: fastMRI's random lines
      (`odl_wasserstein.operators.masks.fastmri_lines_mask`) with
      ``calibration`` central lines, ``W / R`` lines on average.

    Parameters
    ----------
    kind : {'poisson', 'lines', 'fastmri'}
    shape : int or (int, int)
        K-space shape ``(H, W)``.
    acceleration : float
        Requested acceleration ``R >= 1``.
    calibration : int, optional
        Side of the fully sampled centre (lines for the 1-D kinds); default
        `scaled_calibration` of ``shape``.
    seed : int, None or `numpy.random.Generator`, optional

    Returns
    -------
    torch.Tensor
        float32 0/1 ``(1, 1, H, W)``, centred k-space convention.

    Examples
    --------
    >>> mask = sampling_mask('poisson', (64, 64), 5, seed=0)
    >>> mask.shape, scaled_calibration(64)
    (torch.Size([1, 1, 64, 64]), 5)
    >>> bool(mask[0, 0, 30:35, 30:35].all())  # the 5 x 5 calibration square
    True
    >>> lines = sampling_mask('lines', (64, 64), 8, seed=0)
    >>> int(lines[0, 0, 0].sum()), bool((lines == lines[..., :1, :]).all())
    (8, True)
    """
    check_choice(kind, 'mask', MULTICOIL_MASKS)
    shape = _image_shape(shape)
    calibration = (scaled_calibration(shape) if calibration is None
                   else check_int(calibration, 'calibration', 1))
    if calibration >= min(shape):
        raise ValueError(f'`calibration` {calibration} must be smaller than the image '
                         f'{shape}; lower it')
    if kind == 'poisson':
        mask = poisson_disc_mask(shape, acceleration, calibration=calibration, seed=seed)
    elif kind == 'lines':
        mask = variable_density_lines_mask(shape, acceleration,
                                           acs_fraction=calibration / shape[-1], seed=seed)
    else:
        mask = fastmri_lines_mask(shape, acceleration,
                                  center_fraction=calibration / shape[-1], seed=seed)
    return torch.from_numpy(mask)[None, None]


@functools.lru_cache(maxsize=1024)
def _bank_mask(kind, shape, acceleration, calibration, seed, number):
    """Mask ``number`` of the bank of stream ``seed``; drawn once per process."""
    sequence = np.random.SeedSequence(seed, spawn_key=(_BANK_KEY, number))
    return sampling_mask(kind, shape, acceleration, calibration,
                         seed=int(sequence.generate_state(1, dtype=np.uint64)[0]))


_PASSED_ON = ('subject', 'file', 'slice')


class MulticoilMRIDataset(SeededBatchStream):
    """Masked multi-coil k-space, zero-filled images and labels, seeded and resumable.

    Batch ``k`` takes batch ``k`` of ``images`` (fully sampled, noisy
    multi-coil k-space ``y``, its image and coil maps) and, from
    ``batch_generator(seed, k, split)``, one mask ``M`` per sample, so it
    is a pure function of the seeds and ``k`` and resumes exactly. It
    gives the measurements ``b = M y``, the coil maps ``S`` (the stream's,
    or estimated from the calibration region of ``b``), the zero-filled
    image ``A^H b = sum_c conj(S_c) F^{-1}(b_c)`` of ``A = M F S``, and the
    label ``x``:

    - ``coil_maps='given'``: the stream's image, the ``x`` with
      ``y = F(S x) + noise`` (the simulator's noise-free image; for
      fastMRI the coil combination of `FastMRICoilDataset`). With
      noise-free data ``b = A x`` exactly.
    - ``coil_maps='estimate'``: the coil combination
      ``x = sum_c conj(S_c) F^{-1}(y_c)`` of the fully sampled (noisy)
      k-space with the estimated maps, as the paper's labels are
      combined with its ESPIRiT maps. The estimated maps carry the smooth
      phase ``phi`` of the low-resolution image (see
      `odl_wasserstein.operators.estimate_coil_maps`), so ``x`` is about
      the simulated image times ``e^{-i phi}`` (plus noise; its magnitude
      at most the root-sum-of-squares image of ``y``), zero outside the
      maps' support; ``b = A x`` holds up to noise and the error of the
      low-resolution maps. The label is thus in the phase convention of
      the input.

    All of ``b``, the zero-filled image and the label are divided by the
    same per-slice ``scale``, the standard deviation of the zero-filled
    magnitude (the OT-cycleGAN authors' normalisation of the input,
    `normalize_mri_images` ``'std'``): it needs only the measurements, so
    it is available at test time, and ``b = A x`` still holds.

    Parameters
    ----------
    images : `SeededBatchStream`
        A stream without normalisation whose items hold ``'kspace'``,
        fully sampled complex ``(N, C, H, W)``, ``'image'`` complex
        ``(N, 1, H, W)`` and, for ``coil_maps='given'``, ``'coil_maps'``
        ``(N, C, H, W)``: `SimulatedMRIDataset` with ``num_coils`` (8 in
        the paper) and ``snr_db``, or `FastMRICoilDataset`. Batch 0 is
        read once here to check it.
    acceleration : float, optional
        Acceleration ``R`` of the masks (5, 7, 9, 10 in the paper).
    mask : {'poisson', 'lines', 'fastmri'}, optional
        Kind of mask, see `sampling_mask`.
    calibration : int, optional
        Side of the fully sampled centre of the masks, also the
        calibration region of the estimated maps; default
        `scaled_calibration` (20 at 256 x 320).
    coil_maps : {'given', 'estimate'}, optional
        Take the stream's maps or estimate them from the calibration
        region of the measurements.
    labels : {'complex', 'magnitude'}, optional
        ``x`` as two real channels or as its magnitude.
    mask_bank : int, optional
        If given, draw each sample's mask uniformly from a fixed bank of
        that many masks per stream seed (the same for both splits), each
        drawn once per process and cached in memory; None draws a new
        mask per sample. A Poisson mask takes about 0.1 s at 256 x 320.
    seed : int, optional
        Seed of the masks (and of the bank).
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of `SeededBatchStream`.

    Notes
    -----
    Items are dicts:

    - ``'kspace'``: ``b / scale``, complex64 ``(N, C, H, W)``, zero off the mask;
    - ``'mask'``: float32 ``(N, 1, H, W)``;
    - ``'coil_maps'``: complex64 ``(N, C, H, W)``;
    - ``'x'``: the label divided by ``scale``, float32 ``(N, 2, H, W)``
      (real and imaginary parts, `odl_wasserstein.util.complex_to_channels`)
      or ``(N, 1, H, W)`` (magnitude);
    - ``'zero_filled'``: ``A^H b / scale``, float32 ``(N, 2, H, W)``;
    - ``'scale'``: float32 ``(N,)``;
    - the stream's ``'subject'``, ``'file'`` and ``'slice'`` where present.

    The paper's label settings come from the subjects of two streams, one
    for the inputs (``'kspace'``, ``'zero_filled'``) and one for the
    labels (``'x'``): paired training takes both from one stream; disjoint
    labels come from a stream of other subjects (`SimulatedMRIDataset`
    ``subjects='even'`` and ``'odd'``, or fastMRI subsets); partial labels
    from a subset of the input subjects (e.g. ``num_subjects=17`` for the
    inputs and ``num_subjects=3`` for the labels, the first 3 of them).

    Examples
    --------
    >>> from odl_wasserstein.data import SimulatedMRIDataset
    >>> images = SimulatedMRIDataset(32, batch_size=2, num_coils=8, snr_db=30)
    >>> data = MulticoilMRIDataset(images, acceleration=5, seed=1)
    >>> item = data.batch(0)
    >>> item['kspace'].shape, item['x'].shape, item['zero_filled'].dtype
    (torch.Size([2, 8, 32, 32]), torch.Size([2, 2, 32, 32]), torch.float32)
    >>> bool(torch.equal(next(data.batches(start=3))['kspace'], data.batch(3)['kspace']))
    True
    """

    def __init__(self, images, acceleration=5, mask='poisson', calibration=None,
                 coil_maps='given', labels='complex', mask_bank=None, seed=0, **kwargs):
        self.images = check_raw_stream(images)
        self.acceleration = check_real(acceleration, 'acceleration', minimum=1)
        self.mask = check_choice(mask, 'mask', MULTICOIL_MASKS)
        self.calibration = check_int(calibration, 'calibration', 1, allow_none=True)
        self.coil_maps = check_choice(coil_maps, 'coil_maps', ('given', 'estimate'))
        self.labels = check_choice(labels, 'labels', ('complex', 'magnitude'))
        self.mask_bank = check_int(mask_bank, 'mask_bank', 1, allow_none=True)
        super().__init__(seed, **kwargs)
        self.shape = self._check_source(images.batch(0))
        if self.calibration is None:
            self.calibration = scaled_calibration(self.shape)
        # A mask of the bank (or a throw-away one) checks the mask parameters.
        self._masks(torch.Generator().manual_seed(0), 1)

    def _check_source(self, item):
        """Check an item of the source stream; return its image shape ``(H, W)``."""
        kspace, image = item.get('kspace'), item.get('image')
        if not (isinstance(kspace, torch.Tensor) and kspace.is_complex() and kspace.ndim == 4):
            raise ValueError("`images` must yield fully sampled multi-coil k-space (N, C, H, W) "
                             "under 'kspace' (e.g. SimulatedMRIDataset with num_coils), got "
                             f'{getattr(kspace, "dtype", type(kspace).__name__)} of shape '
                             f'{tuple(getattr(kspace, "shape", ()))}')
        expected = (len(kspace), 1) + tuple(kspace.shape[-2:])
        if not (isinstance(image, torch.Tensor) and image.is_complex()
                and tuple(image.shape) == expected):
            raise ValueError(f"`images` must yield complex images {expected} under 'image', "
                             f'got {tuple(getattr(image, "shape", ()))}')
        if self.coil_maps == 'given':
            maps = item.get('coil_maps')
            if not isinstance(maps, torch.Tensor) or maps.shape != kspace.shape:
                raise ValueError(f"`coil_maps`='given' needs maps {tuple(kspace.shape)} under "
                                 "'coil_maps' of `images` (SimulatedMRIDataset with "
                                 "num_coils); or pass coil_maps='estimate'")
        return tuple(kspace.shape[-2:])

    def _masks(self, generator, count):
        """``count`` masks ``(count, 1, H, W)``, all randomness from ``generator``."""
        parameters = (self.mask, self.shape, self.acceleration, self.calibration)
        if self.mask_bank is None:
            seeds = torch.randint(2 ** 31 - 1, (count,), generator=generator).tolist()
            return torch.cat([sampling_mask(*parameters, seed=s) for s in seeds])
        numbers = torch.randint(self.mask_bank, (count,), generator=generator).tolist()
        return torch.cat([_bank_mask(*parameters, self.seed, n) for n in numbers])

    def generate(self, index, split='train'):
        """Batch number ``index`` of a seed stream (see the class notes)."""
        source = self.images.batch(index, split)
        kspace = source['kspace'].to(torch.complex64)
        mask = self._masks(batch_generator(self.seed, index, split), len(kspace))
        measured = kspace * mask
        if self.coil_maps == 'given':
            maps = source['coil_maps'].to(torch.complex64)
            label = source['image'].to(torch.complex64)
        else:
            maps = estimate_coil_maps(measured, self.calibration)
            label = coil_fourier_adjoint(kspace, torch.ones(()), maps)[:, None]
        zero_filled = coil_fourier_adjoint(measured, mask, maps)[:, None]
        zero_filled, _, scale = normalize_mri_images(zero_filled, 'std')
        view = (-1, 1, 1, 1)
        label = label / scale.reshape(view)
        item = {key: source[key] for key in _PASSED_ON if key in source}
        item.update(
            kspace=measured / scale.reshape(view), mask=mask, coil_maps=maps,
            x=label.abs() if self.labels == 'magnitude' else complex_to_channels(label),
            zero_filled=complex_to_channels(zero_filled), scale=scale.float())
        return item
