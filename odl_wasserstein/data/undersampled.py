"""Undersampled measurements of MR images: the two domains of accelerated-MRI training.

`UndersampledMRIDataset` turns a seeded stream of complex images (the
simulator `SimulatedMRIDataset`, or fastMRI slices from
`FastMRISliceDataset`) into pairs of a fully sampled image ``x`` and its
zero-filled measurement in the image domain,

.. math::
    y = F^{-1} M (F x + n),

with a 1-D line mask ``M`` drawn for each sample (the OT-cycleGAN authors'
sampling, `odl_wasserstein.operators.masks.ot_cyclegan_lines_mask`, or
fastMRI's `fastmri_lines_mask`) and optional complex Gaussian k-space noise
``n`` at a given SNR. Both images are normalised by the standard deviation
of their own magnitude, as the authors' code does. `RandomLineMasks` draws
such masks inside a training step, from torch's random state (which
checkpoints save), for the random forward operator of the OT-cycleGAN.
"""

import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.mri import add_kspace_noise, check_raw_stream, normalize_mri_images
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.operators.masks import fastmri_lines_mask, ot_cyclegan_lines_mask
from odl_wasserstein.util import check_choice, check_real, complex_to_channels

__all__ = ('LINE_MASKS', 'line_mask', 'RandomLineMasks', 'UndersampledMRIDataset')

LINE_MASKS = {'ot_cyclegan': ot_cyclegan_lines_mask, 'fastmri': fastmri_lines_mask}
"""The 1-D random line masks: the OT-cycleGAN authors' sampling and fastMRI's."""


def line_mask(kind, shape, acceleration, seed):
    """A line mask ``(1, 1, 1, W)`` (lines along the last axis) as a float32 tensor.

    Examples
    --------
    >>> mask = line_mask('ot_cyclegan', (16, 32), 4, seed=0)
    >>> mask.shape, float(mask.sum()) <= 32
    (torch.Size([1, 1, 1, 32]), True)
    """
    mask = LINE_MASKS[check_choice(kind, 'mask', tuple(LINE_MASKS))](
        tuple(shape), acceleration, seed=seed)
    return torch.as_tensor(mask[:1])[None, None]


class RandomLineMasks:
    """A fresh random line mask per call, from torch's global random state.

    The forward operator of the OT-cycleGAN for MRI draws a new mask at
    every step; drawing its seed from torch's random state, which
    checkpoints save, keeps a resumed run exact.

    Parameters
    ----------
    acceleration : float
    kind : {'ot_cyclegan', 'fastmri'}, optional

    Examples
    --------
    >>> masks = RandomLineMasks(4)
    >>> y = torch.zeros(1, 2, 16, 32)
    >>> _ = torch.manual_seed(0); first = masks(y)
    >>> _ = torch.manual_seed(0); bool(torch.equal(masks(y), first))
    True
    >>> first.shape
    torch.Size([1, 1, 1, 32])
    """

    def __init__(self, acceleration, kind='ot_cyclegan'):
        self.acceleration = check_real(acceleration, 'acceleration', minimum=1)
        self.kind = check_choice(kind, 'mask', tuple(LINE_MASKS))

    def __call__(self, like):
        seed = int(torch.randint(2 ** 31 - 1, ()))
        mask = line_mask(self.kind, like.shape[-2:], self.acceleration, seed)
        return mask.to(device=like.device)

    def __repr__(self):
        return f'{type(self).__name__}(acceleration={self.acceleration:g}, kind={self.kind!r})'


class UndersampledMRIDataset(SeededBatchStream):
    """Fully sampled images and their undersampled zero-filled measurements, seeded.

    Batch ``k`` takes batch ``k`` of ``images`` and, from
    ``batch_generator(seed, k, split)``, one line mask per sample and the
    k-space noise, so it is a pure function of the seeds and ``k`` and
    resumes exactly.

    Parameters
    ----------
    images : `SeededBatchStream`
        A stream whose items hold complex images ``'image'`` ``(N, 1, H, W)``
        without normalisation (``normalization=None``), e.g.
        `SimulatedMRIDataset` or `FastMRISliceDataset`.
    acceleration : float, optional
        Nominal acceleration ``R`` of the masks.
    mask : {'ot_cyclegan', 'fastmri'}, optional
        The authors' sampling (``H/R`` lines with replacement plus an ACS
        band of 8 % at R = 4, 4 % otherwise) or fastMRI's `RandomMaskFunc`.
    snr_db : float, optional
        SNR of complex Gaussian k-space noise (see `add_kspace_noise`);
        None adds none (measured data already hold their noise).
    normalization : {'std', None}, optional
        ``'std'``: ``x`` and ``y`` each divided by the standard deviation of
        their own magnitude, as the OT-cycleGAN code normalises each slice.
    channels : bool, optional
        Give ``x`` and ``y`` as two real channels (real and imaginary parts,
        `odl_wasserstein.util.complex_to_channels`), the form networks take.
    seed : int, optional
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of `SeededBatchStream`.

    Notes
    -----
    Items are dicts: ``'x'`` and ``'y'`` ``(N, 1, H, W)`` complex64 (or
    ``(N, 2, H, W)`` float32 with ``channels``), ``'mask'`` float32
    ``(N, 1, 1, W)``, ``'x_scale'`` and ``'y_scale'`` ``(N,)`` (the
    normalisation), and the entries of the image stream's items other than
    ``'image'``, ``'offset'`` and ``'scale'`` (``'subject'``, ``'file'``,
    ``'slice'``).

    Examples
    --------
    >>> from odl_wasserstein.data import SimulatedMRIDataset
    >>> images = SimulatedMRIDataset(32, batch_size=2, subjects='odd')
    >>> data = UndersampledMRIDataset(images, acceleration=4, snr_db=30, seed=1)
    >>> item = data.batch(0)
    >>> item['x'].shape, item['y'].dtype, item['mask'].shape
    (torch.Size([2, 1, 32, 32]), torch.complex64, torch.Size([2, 1, 1, 32]))
    >>> bool(torch.equal(next(data.batches(start=4))['y'], data.batch(4)['y']))
    True
    """

    def __init__(self, images, acceleration=4, mask='ot_cyclegan', snr_db=None,
                 normalization='std', channels=False, seed=0, **kwargs):
        self.images = check_raw_stream(images)
        self.acceleration = check_real(acceleration, 'acceleration', minimum=1)
        self.mask = check_choice(mask, 'mask', tuple(LINE_MASKS))
        self.snr_db = check_real(snr_db, 'snr_db', allow_none=True, allow_inf=True)
        self.normalization = check_choice(normalization, 'normalization', ('std', None))
        self.channels = bool(channels)
        super().__init__(seed, **kwargs)

    def generate(self, index, split='train'):
        """Batch number ``index`` of a seed stream (see the class notes)."""
        source = self.images.batch(index, split)
        x = source['image']
        if not (isinstance(x, torch.Tensor) and x.is_complex() and x.ndim == 4
                and x.shape[1] == 1):
            raise ValueError('`images` must yield complex images (N, 1, H, W) under '
                             f"'image', got {getattr(x, 'dtype', type(x).__name__)} of shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        generator = batch_generator(self.seed, index, split)
        seeds = torch.randint(2 ** 31 - 1, (len(x),), generator=generator).tolist()
        mask = torch.cat([line_mask(self.mask, x.shape[-2:], self.acceleration, seed)
                          for seed in seeds])
        kspace = fftn_centered(x, 2)
        if self.snr_db is not None:
            kspace = add_kspace_noise(kspace, self.snr_db, generator)
        y = ifftn_centered(kspace * mask, 2)
        x, _, x_scale = normalize_mri_images(x, self.normalization)
        y, _, y_scale = normalize_mri_images(y, self.normalization)
        item = {key: value for key, value in source.items()
                if key not in ('image', 'offset', 'scale')}
        if self.channels:
            x, y = complex_to_channels(x), complex_to_channels(y)
        item.update(x=x, y=y, mask=mask, x_scale=x_scale.float(), y_scale=y_scale.float())
        return item
