"""Offline MRI data: simulated complex images, birdcage coil maps, noisy k-space.

Everything the MRI methods need runs without downloaded data:

- `random_mri_image`: complex images with anatomy-like structure (nested
  random ellipses of tissue-like intensities, slightly blurred edges, a
  mild multiplicative texture) and a smooth random phase;
- `birdcage_coil_maps`: sensitivity maps of ``C`` coils on a circle around
  the field of view, normalised to ``sum_c |S_c|^2 = 1``;
- `add_kspace_noise` and `simulate_kspace`: fully sampled (multi-coil)
  k-space ``F(S_c x)`` with complex Gaussian noise at a given SNR, ``F``
  the orthonormal centred FFT `odl_wasserstein.fft.fftn_centered`;
- `normalize_mri_images`: the two normalisations of the MRI papers, the
  OT-cycleGAN authors' (divide by the std of the magnitude, complex stays
  complex) and fastMRI's (instance-normalised magnitude clamped to +-6);
- `SimulatedMRIDataset`: a seeded, resumable stream of simulated batches
  (a `odl_wasserstein.data.SeededBatchStream`) drawn from a population of
  virtual subjects, with disjoint residue classes of subjects for the two
  domains of unpaired training.

Images are complex tensors ``(N, 1, H, W)`` inside the package; the two
real channels of the networks come from
`odl_wasserstein.util.complex_to_channels` at network boundaries only.
"""

import math

import numpy as np
import torch

from odl_wasserstein.data.datasets import SeededBatchStream, batch_generator
from odl_wasserstein.data.phantoms import _image_shape
from odl_wasserstein.fft import fftn_centered
from odl_wasserstein.util import (
    as_generator, check_choice, check_int, check_real, complex_dtype, real_dtype)

__all__ = (
    'random_mri_image',
    'simulated_subject_image',
    'birdcage_coil_maps',
    'add_kspace_noise',
    'simulate_kspace',
    'normalize_mri_images',
    'check_raw_stream',
    'NORMALIZATIONS',
    'SimulatedMRIDataset',
)

NORMALIZATIONS = ('std', 'fastmri', None)
"""Values of ``normalization``: the OT-cycleGAN authors', fastMRI's, none."""

# fastMRI's `normalize_instance`: eps added to the std, clamp to +-6.
_FASTMRI_EPS = 1e-11
_FASTMRI_CLAMP = 6.0
# Entropy of the virtual population: subject s is a pure function of s.
_POPULATION = 0x4D5249  # 'MRI'


def _grid(shape):
    """Coordinates in [-1, 1] of the pixel centres, axis 0 first, float64."""
    x1 = torch.linspace(-1, 1, shape[0], dtype=torch.float64)[:, None]
    x2 = torch.linspace(-1, 1, shape[1], dtype=torch.float64)[None, :]
    return x1, x2


def _uniform(generator, low, high, size=()):
    return low + (high - low) * torch.rand(size, generator=generator, dtype=torch.float64)


def _anatomy_parameters(generator):
    """Rows (value, axis_1, axis_2, centre_1, centre_2, rotation), painted in order."""
    centre = _uniform(generator, -0.05, 0.05, 2)
    axes = torch.stack([_uniform(generator, 0.70, 0.90), _uniform(generator, 0.60, 0.85)])
    rotation = _uniform(generator, -0.3, 0.3)
    rows = [torch.cat([_uniform(generator, 0.35, 0.5)[None], axes, centre, rotation[None]])]
    inner = axes * _uniform(generator, 0.85, 0.93)
    rows.append(torch.cat([_uniform(generator, 0.6, 0.8)[None], inner, centre, rotation[None]]))
    count = int(torch.randint(4, 9, (), generator=generator))
    for _ in range(count):
        radius, angle = _uniform(generator, 0, 0.6), _uniform(generator, 0, 2 * math.pi)
        offset = torch.stack([torch.cos(angle), torch.sin(angle)]) * radius * inner
        rows.append(torch.cat([_uniform(generator, 0.1, 1.0)[None],
                               _uniform(generator, 0.04, 0.25, 2), centre + offset,
                               _uniform(generator, 0, math.pi)[None]]))
    return torch.stack(rows)


def _paint(shape, rows):
    """Magnitude image: each ellipse replaces what lies below it."""
    x1, x2 = _grid(shape)
    image = torch.zeros(shape, dtype=torch.float64)
    for value, a1, a2, c1, c2, theta in rows.tolist():
        d1, d2 = x1 - c1, x2 - c2
        u = math.cos(theta) * d1 + math.sin(theta) * d2
        v = -math.sin(theta) * d1 + math.cos(theta) * d2
        image = torch.where((u / a1) ** 2 + (v / a2) ** 2 <= 1, value, image)
    return image


def _lowpass(field, sigma):
    """Periodic Gaussian blur of std ``sigma`` pixels, by FFT."""
    f1 = torch.fft.fftfreq(field.shape[0], dtype=torch.float64)[:, None]
    f2 = torch.fft.fftfreq(field.shape[1], dtype=torch.float64)[None, :]
    transfer = torch.exp(-2 * math.pi ** 2 * sigma ** 2 * (f1 ** 2 + f2 ** 2))
    return torch.fft.ifft2(torch.fft.fft2(field) * transfer).real


def _blur(image, sigma):
    """Gaussian blur of std ``sigma`` pixels truncated at 3 sigma, zero boundaries.

    Unlike a blur by FFT, it keeps the background exactly zero beyond the
    kernel's reach.
    """
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    out = torch.nn.functional.conv2d(image[None, None], kernel.reshape(1, 1, -1, 1),
                                     padding=(radius, 0))
    out = torch.nn.functional.conv2d(out, kernel.reshape(1, 1, 1, -1), padding=(0, radius))
    return out[0, 0]


def _smooth_phase(shape, coefficients):
    """Quadratic polynomial phase on [-1, 1]^2."""
    x1, x2 = _grid(shape)
    c0, c1, c2, c3, c4, c5 = coefficients.tolist()
    return c0 + c1 * x1 + c2 * x2 + c3 * x1 ** 2 + c4 * x1 * x2 + c5 * x2 ** 2


def _one_image(shape, generator, texture):
    # Shape-independent draws first: a subject's anatomy and phase are the
    # same at every resolution; only the texture depends on the grid.
    rows = _anatomy_parameters(generator)
    phase_coefficients = torch.cat([_uniform(generator, -math.pi, math.pi, 1),
                                    _uniform(generator, -0.5, 0.5, 5)])
    magnitude = _blur(_paint(shape, rows), 0.6)
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    field = _lowpass(noise, 2.0)
    field = field / field.std().clamp(min=1e-12)
    magnitude = magnitude * (1 + texture * field).clamp(min=0)
    phase = _smooth_phase(shape, phase_coefficients)
    return torch.polar(magnitude, phase).to(torch.complex64)


def random_mri_image(shape, generator=None, batch_size=None, texture=0.05):
    """Random complex image with anatomy-like structure and smooth phase.

    The magnitude is a body ellipse (value 0.35-0.5, semi-axes 0.6-0.9 of
    the half field of view) holding a tissue ellipse (0.6-0.8) with 4 to 8
    random inner structures (0.1-1.0), each ellipse painted over the
    previous ones, on the coordinates ``[-1, 1]^2`` of the pixel centres.
    The edges are blurred by a Gaussian of 0.6 pixels (truncated at 3
    standard deviations, so the background stays exactly 0), and the
    magnitude is multiplied by ``1 + texture * t``, ``t`` white noise
    blurred by a periodic Gaussian of 2 pixels and scaled to unit variance.
    The phase is the quadratic polynomial
    ``c_0 + c_1 x_1 + c_2 x_2 + c_3 x_1^2 + c_4 x_1 x_2 + c_5 x_2^2``,
    ``c_0`` uniform in ``[-pi, pi]`` and the others in ``[-0.5, 0.5]``, so
    that it changes by at most ``4 / (n - 1)`` radians between
    neighbouring pixels of an axis of ``n`` pixels.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.
    generator : torch.Generator or int, optional
        Source of randomness, or a seed; None uses torch's global generator.
    batch_size : int, optional
        Number of images, drawn one after the other; None for one image.
    texture : float, optional
        Relative strength (std) of the multiplicative texture, ``>= 0``.

    Returns
    -------
    torch.Tensor
        complex64 ``(H, W)``, or ``(B, H, W)`` with ``batch_size``; zero
        outside the body and its blurred edge, magnitude at most about 1.

    Examples
    --------
    >>> image = random_mri_image(64, generator=0)
    >>> image.shape, image.dtype
    (torch.Size([64, 64]), torch.complex64)
    >>> bool(torch.equal(image, random_mri_image(64, generator=0)))
    True
    >>> float(image[0, 0].abs()), float(image[32, 32].abs()) > 0.1  # body in the centre
    (0.0, True)
    """
    shape = _image_shape(shape)
    generator = as_generator(generator)
    texture = check_real(texture, 'texture', minimum=0)
    count = 1 if batch_size is None else check_int(batch_size, 'batch_size', 1)
    images = torch.stack([_one_image(shape, generator, texture) for _ in range(count)])
    return images[0] if batch_size is None else images


def simulated_subject_image(subject, shape):
    """The image of virtual subject number ``subject``, a pure function of it.

    Subject ``s`` is `random_mri_image` drawn from a generator seeded by
    ``numpy.random.SeedSequence(entropy, spawn_key=(s,))`` with a fixed
    entropy: the same subject has the same anatomy in every stream and
    process, at every resolution up to the texture, and different subjects
    are independent draws.

    Parameters
    ----------
    subject : int
        Non-negative subject number.
    shape : int or (int, int)
        Image shape ``(H, W)``.

    Returns
    -------
    torch.Tensor
        complex64 ``(H, W)``.

    Examples
    --------
    >>> a = simulated_subject_image(3, 32)
    >>> bool(torch.equal(a, simulated_subject_image(3, 32)))
    True
    >>> bool(torch.equal(a, simulated_subject_image(4, 32)))
    False
    """
    subject = check_int(subject, 'subject')
    sequence = np.random.SeedSequence(_POPULATION, spawn_key=(subject,))
    seed = int(sequence.generate_state(1, dtype=np.uint64)[0])
    return random_mri_image(shape, torch.Generator().manual_seed(seed))


def birdcage_coil_maps(shape, num_coils, radius=1.5, dtype=torch.complex64):
    """Sensitivity maps of a birdcage coil array, ``sum_c |S_c|^2 = 1``.

    Coil ``c`` of ``C`` sits at angle ``2 pi c / C`` on a circle of radius
    ``radius`` around the centre of the image, in units of the half field
    of view (pixel ``i`` of an axis of ``n`` at ``(i - n / 2) / (n / 2)``,
    so the grid spans ``[-1, 1)`` and ``radius > sqrt(2)`` puts the coils
    outside it). Its raw sensitivity at a point at distance ``d`` and angle
    ``phi`` from the coil is ``exp(i (phi - 2 pi c / C)) / d`` (the
    birdcage model of SigPy's ``birdcage_maps``). The maps are then divided
    by their root sum of squares, so that ``sum_c |S_c|^2 = 1`` at every
    pixel: the whole image grid is the field of view. With such maps the
    fully sampled multi-coil operator ``x -> (F(S_c x))_c`` is an isometry,
    and the coil combination ``sum_c conj(S_c) y_c`` inverts it.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``.
    num_coils : int
        Number of coils ``C >= 1``.
    radius : float, optional
        Radius of the coil circle, ``> sqrt(2)``.
    dtype : torch.dtype, optional
        Complex dtype of the maps; computed in float64.

    Returns
    -------
    torch.Tensor
        ``(C, H, W)``.

    Examples
    --------
    >>> maps = birdcage_coil_maps(32, num_coils=8)
    >>> maps.shape, maps.dtype
    (torch.Size([8, 32, 32]), torch.complex64)
    >>> float((maps.abs().square().sum(0) - 1).abs().max()) < 1e-6
    True
    >>> bool(maps[0, 16, -1].abs() > maps[4, 16, -1].abs())  # coil 0 is on the right
    True
    """
    shape = _image_shape(shape)
    num_coils = check_int(num_coils, 'num_coils', 1)
    radius = check_real(radius, 'radius', minimum=math.sqrt(2))
    if radius == math.sqrt(2):
        raise ValueError(f'`radius` must be > sqrt(2) (coils outside the image), got {radius}')
    angles = 2 * math.pi / num_coils * torch.arange(num_coils, dtype=torch.float64)[:, None, None]
    rows = (torch.arange(shape[0], dtype=torch.float64) - shape[0] / 2) / (shape[0] / 2)
    cols = (torch.arange(shape[1], dtype=torch.float64) - shape[1] / 2) / (shape[1] / 2)
    # Displacement from the coil: axis 1 is x (to the right), axis 0 is y.
    dx = cols[None, None, :] - radius * torch.cos(angles)
    dy = rows[None, :, None] - radius * torch.sin(angles)
    raw = torch.polar(1 / torch.hypot(dx, dy), torch.atan2(dy, dx) - angles)
    maps = raw / raw.abs().square().sum(0).sqrt()
    return maps.to(complex_dtype(dtype))


def add_kspace_noise(kspace, snr_db, generator=None):
    """Add circular complex Gaussian noise at a given SNR, sample by sample.

    For each sample ``b`` (first axis) of ``M`` entries, the noise entries
    are independent circular complex Gaussians with ``E |n|^2 = sigma_b^2``
    (real and imaginary parts of variance ``sigma_b^2 / 2``),

    .. math::
        \\sigma_b = \\frac{\\|k_b\\|_2}{\\sqrt{M}} \\, 10^{-\\mathrm{SNR}/20},

    so that ``SNR = 10 log10(||k_b||^2 / E ||n_b||^2)`` dB: the ratio of
    the root-mean-square signal to the noise std, in dB
    (``20 log10(||k_b|| / ||n_b||)`` up to the randomness of ``||n_b||``).
    The FFT is orthonormal, so the image-domain SNR is the same.

    Parameters
    ----------
    kspace : torch.Tensor
        Complex ``(N, ...)``, e.g. ``(N, C, H, W)``.
    snr_db : float
        SNR in dB; ``inf`` adds nothing.
    generator : torch.Generator or int, optional
        Source of randomness, or a seed.

    Returns
    -------
    torch.Tensor
        ``kspace + noise``, same shape and dtype.

    Examples
    --------
    >>> k = torch.ones(2, 4096, dtype=torch.complex64)
    >>> noisy = add_kspace_noise(k, snr_db=20, generator=0)
    >>> ratio = k[0].norm() / (noisy[0] - k[0]).norm()
    >>> round(20 * math.log10(float(ratio)))
    20
    """
    if not isinstance(kspace, torch.Tensor) or not kspace.is_complex() or kspace.ndim < 1:
        raise TypeError('`kspace` must be a complex tensor (N, ...), got '
                        f'{getattr(kspace, "dtype", type(kspace).__name__)}')
    snr_db = check_real(snr_db, 'snr_db', allow_inf=True)
    if snr_db == -math.inf:
        raise ValueError('`snr_db` must be > -inf')
    generator = as_generator(generator, device=kspace.device)
    per_sample = kspace[0].numel() if len(kspace) else 1
    norms = kspace.reshape(len(kspace), -1).norm(dim=1)
    sigma = norms / math.sqrt(max(per_sample, 1)) * 10 ** (-snr_db / 20)
    noise = torch.randn(kspace.shape + (2,), generator=generator,
                        dtype=real_dtype(kspace.dtype), device=kspace.device)
    noise = torch.view_as_complex(noise) * (sigma / math.sqrt(2)).reshape(
        (-1,) + (1,) * (kspace.ndim - 1))
    return kspace + noise


def simulate_kspace(images, coil_maps=None, snr_db=None, generator=None):
    """Fully sampled (multi-coil) k-space ``y_c = F(S_c x) + n_c``.

    Parameters
    ----------
    images : torch.Tensor
        Complex (or real) images ``(N, 1, H, W)``.
    coil_maps : torch.Tensor, optional
        Sensitivities ``(C, H, W)`` or ``(N, C, H, W)``; without them a
        single coil of sensitivity 1.
    snr_db : float, optional
        SNR of the added noise, see `add_kspace_noise`; None adds none.
    generator : torch.Generator or int, optional
        Source of the noise, or a seed.

    Returns
    -------
    torch.Tensor
        Complex ``(N, C, H, W)`` (``C = 1`` without coil maps), centred
        k-space of `odl_wasserstein.fft.fftn_centered`.

    Examples
    --------
    >>> x = random_mri_image(32, generator=1, batch_size=2)[:, None]
    >>> maps = birdcage_coil_maps(32, 4)
    >>> k = simulate_kspace(x, maps)
    >>> k.shape
    torch.Size([2, 4, 32, 32])
    >>> bool(torch.allclose(k.norm(), x.norm(), rtol=1e-5))  # an isometry
    True
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        raise ValueError('`images` must be a tensor (N, 1, H, W), got '
                         f'{tuple(getattr(images, "shape", ())) or type(images).__name__}')
    images = images.to(complex_dtype(images.dtype))
    if coil_maps is not None:
        if (not isinstance(coil_maps, torch.Tensor) or coil_maps.ndim not in (3, 4)
                or tuple(coil_maps.shape[-2:]) != tuple(images.shape[-2:])):
            raise ValueError(
                f'`coil_maps` must be a tensor (C, H, W) or (N, C, H, W) with (H, W) = '
                f'{tuple(images.shape[-2:])}, got {tuple(getattr(coil_maps, "shape", ()))}')
        images = images * coil_maps.to(images.dtype)
    kspace = fftn_centered(images, 2)
    if snr_db is not None:
        kspace = add_kspace_noise(kspace, snr_db, generator)
    return kspace


def normalize_mri_images(images, normalization='std', statistics=None):
    """Normalise MRI images per sample, as the OT-cycleGAN authors or fastMRI do.

    - ``'std'`` (the OT-cycleGAN authors'): divide by ``scale``, the
      standard deviation of the magnitude ``|x|`` of the sample (over all
      its entries, population std ``ddof=0``; a blank sample of std 0 keeps
      ``scale = 1``); complex images stay complex, ``offset = 0``.
      Applied to a zero-filled image, this is the authors' per-slice
      normalisation.
    - ``'fastmri'`` (fastMRI's ``normalize_instance`` then ``clamp``): the
      magnitude, ``offset`` its mean, ``scale`` its std (``ddof=1``) plus
      1e-11, ``clamp((|x| - offset) / scale, -6, 6)``; a real result.
    - None: unchanged, ``offset = 0`` and ``scale = 1``.

    Parameters
    ----------
    images : torch.Tensor
        Complex or real images ``(N, ...)``, e.g. ``(N, 1, H, W)``.
    normalization : {'std', 'fastmri', None}, optional
        Method.
    statistics : pair of torch.Tensor, optional
        ``(offset, scale)`` of shape ``(N,)`` to apply instead of computing
        them from ``images``, e.g. those of the zero-filled input applied
        to the target, as fastMRI does.

    Returns
    -------
    normalized : torch.Tensor
        ``(N, ...)``: complex for ``'std'`` and None with complex input,
        real for ``'fastmri'``.
    offset, scale : torch.Tensor
        Real ``(N,)``; ``'std'`` and None: ``normalized = images / scale``.

    Examples
    --------
    >>> x = torch.tensor([[3 + 4j, 0j, 0j, 0j]])  # |x| = 5, 0, 0, 0
    >>> y, offset, scale = normalize_mri_images(x, 'std')
    >>> float(scale[0]), y
    (2.16506..., tensor([[1.3856+1.8475j, 0.0000+0.0000j, 0.0000+0.0000j, 0.0000+0.0000j]]))
    >>> y, offset, scale = normalize_mri_images(x, 'fastmri')
    >>> float(offset[0]), float(scale[0]), y
    (1.25, 2.5, tensor([[ 1.5000, -0.5000, -0.5000, -0.5000]]))
    """
    check_choice(normalization, 'normalization', NORMALIZATIONS)
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[1:].numel() < 2:
        raise ValueError('`images` must be a tensor (N, ...) of at least 2 entries per '
                         f'sample, got {tuple(getattr(images, "shape", ())) or type(images)}')
    magnitude = images.abs() if images.is_complex() else images
    flat = magnitude.reshape(len(images), -1)
    if statistics is None:
        statistics = _statistics(flat, normalization)
    offset, scale = (torch.as_tensor(s, dtype=flat.dtype, device=flat.device).reshape(-1)
                     for s in statistics)
    if offset.shape != (len(images),) or scale.shape != (len(images),):
        raise ValueError(f'`statistics` must be two tensors of shape ({len(images)},), got '
                         f'{tuple(offset.shape)} and {tuple(scale.shape)}')
    view = (-1,) + (1,) * (images.ndim - 1)
    if normalization == 'fastmri':
        out = ((magnitude - offset.reshape(view)) / scale.reshape(view))
        return out.clamp(-_FASTMRI_CLAMP, _FASTMRI_CLAMP), offset, scale
    return images / scale.reshape(view).to(images.dtype), offset, scale


def check_raw_stream(images):
    """Return ``images`` if it is a stream of unnormalised data, else raise.

    The measurement streams (`UndersampledMRIDataset`, `MulticoilMRIDataset`)
    normalise each slice themselves, from its measurements; a source that
    normalised already would be normalised twice.

    Examples
    --------
    >>> stream = SimulatedMRIDataset(16)
    >>> check_raw_stream(stream) is stream
    True
    >>> check_raw_stream(SimulatedMRIDataset(16, normalization='std'))
    Traceback (most recent call last):
        ...
    ValueError: `images` must yield data without normalisation (normalization=None), got 'std'; the measurements are normalised here
    """
    if not callable(getattr(images, 'batch', None)):
        raise TypeError(f'`images` must be a stream with `batch(index, split)`, got '
                        f'{type(images).__name__}')
    if getattr(images, 'normalization', None) is not None:
        raise ValueError('`images` must yield data without normalisation '
                         f'(normalization=None), got {images.normalization!r}; the '
                         'measurements are normalised here')
    return images


def _statistics(flat, normalization):
    zeros = flat.new_zeros(len(flat))
    if normalization == 'fastmri':
        return flat.mean(dim=1), flat.std(dim=1) + _FASTMRI_EPS
    if normalization == 'std':
        std = flat.std(dim=1, correction=0)
        return zeros, torch.where(std > 0, std, torch.ones_like(std))
    return zeros, torch.ones_like(zeros)


_SUBJECTS = {'all': (1, 0), 'even': (2, 0), 'odd': (2, 1)}


def _residue_class(subjects):
    if isinstance(subjects, str):
        return _SUBJECTS[check_choice(subjects, 'subjects', tuple(_SUBJECTS))]
    try:
        modulus, remainder = subjects
    except (TypeError, ValueError):
        raise ValueError(f"`subjects` must be 'all', 'even', 'odd' or a pair (modulus, "
                         f"remainder), got {subjects!r}") from None
    modulus = check_int(modulus, 'subjects[0] (modulus)', 1)
    remainder = check_int(remainder, 'subjects[1] (remainder)')
    if remainder >= modulus:
        raise ValueError(f'`subjects` remainder must be < modulus {modulus}, got {remainder}')
    return modulus, remainder


class SimulatedMRIDataset(SeededBatchStream):
    """Infinite stream of simulated MRI batches from virtual subjects, seeded and resumable.

    Batch ``k`` draws ``batch_size`` subject numbers from
    ``batch_generator(seed, k, split)`` (uniformly, with replacement) and
    returns their images `simulated_subject_image`. A subject's image is a
    pure function of its number, so the stream is a pure function of
    ``(seed, k)`` and resumes exactly (`SeededBatchStream`).

    The subjects of a stream are the residue class ``subjects``: numbers
    ``modulus * j + remainder`` for ``j = 0, 1, ...`` (``num_subjects``
    of them, or practically unbounded). ``'even'`` is ``(2, 0)``, ``'odd'``
    ``(2, 1)`` and ``'all'`` ``(1, 0)``. Two streams of disjoint classes,
    e.g. ``'even'`` for the fully sampled domain A and ``'odd'`` for the
    undersampled domain B of unpaired training, never share a subject, so
    no image of one is an image of the other, whatever their seeds; give
    them different seeds as well, so that their draws are independent.
    Hold out subjects the same way, e.g. ``(3, 0)``, ``(3, 1)`` and
    ``(3, 2)``; the ``'validation'`` seed stream of `batches` draws other
    batches from the same subjects.

    Parameters
    ----------
    shape : int or (int, int)
        Image shape ``(H, W)``, e.g. 64 to 320.
    batch_size : int, optional
        Images per batch ``N``.
    seed : int, optional
        Seed of the stream.
    subjects : {'all', 'even', 'odd'} or (int, int), optional
        Residue class ``(modulus, remainder)`` of the subject numbers.
    num_subjects : int, optional
        Size of the population (``j < num_subjects``); default ``2**62 //
        modulus`` subjects, so that draws practically never repeat.
    num_coils : int, optional
        If given, add birdcage coil maps (`birdcage_coil_maps`, the same
        for all subjects) and the k-space of that many coils.
    snr_db : float, optional
        If given, add k-space with complex Gaussian noise at this SNR (see
        `add_kspace_noise`), drawn anew in every batch.
    normalization : {None, 'std', 'fastmri'}, optional
        Applied to the images (`normalize_mri_images`); the k-space is
        divided by the same ``scale``. ``'fastmri'`` gives real
        magnitudes, which have no k-space, so it excludes ``num_coils``
        and ``snr_db``.
    **kwargs
        ``repeat``, ``start``, ``rank``, ``world_size`` of
        `odl_wasserstein.data.SeededBatchStream`.

    Notes
    -----
    Every item is a dict:

    - ``'image'``: the noise-free image ``(N, 1, H, W)``, complex64
      (float32 with ``'fastmri'``);
    - ``'subject'``: int64 ``(N,)``, the subject numbers;
    - ``'offset'``, ``'scale'``: float32 ``(N,)`` of the normalisation;
    - with ``num_coils`` or ``snr_db``: ``'kspace'``, complex64
      ``(N, C, H, W)`` (``C = 1`` without coils), fully sampled,
      ``F(S_c image) + noise`` (`simulate_kspace`); masks are applied by
      the training recipe;
    - with ``num_coils``: ``'coil_maps'``, complex64 ``(N, C, H, W)``.

    Examples
    --------
    >>> domain_a = SimulatedMRIDataset(32, batch_size=2, seed=0, subjects='even')
    >>> domain_b = SimulatedMRIDataset(32, batch_size=2, seed=1, subjects='odd')
    >>> item = domain_a.batch(0)
    >>> item['image'].shape, item['image'].dtype
    (torch.Size([2, 1, 32, 32]), torch.complex64)
    >>> bool((item['subject'] % 2 == 0).all()), bool((domain_b.batch(0)['subject'] % 2 == 1).all())
    (True, True)
    >>> bool(torch.equal(next(domain_a.batches(start=3))['image'], domain_a.batch(3)['image']))
    True

    Eight coils and noisy k-space at 30 dB:

    >>> item = SimulatedMRIDataset(32, num_coils=8, snr_db=30).batch(0)
    >>> item['kspace'].shape, item['coil_maps'].shape
    (torch.Size([1, 8, 32, 32]), torch.Size([1, 8, 32, 32]))
    """

    def __init__(self, shape, batch_size=1, seed=0, subjects='all', num_subjects=None,
                 num_coils=None, snr_db=None, normalization=None, **kwargs):
        self.shape = _image_shape(shape)
        self.batch_size = check_int(batch_size, 'batch_size', 1)
        self.modulus, self.remainder = _residue_class(subjects)
        self.num_subjects = check_int(num_subjects, 'num_subjects', 1, allow_none=True)
        self.num_coils = check_int(num_coils, 'num_coils', 1, allow_none=True)
        self.snr_db = check_real(snr_db, 'snr_db', allow_none=True, allow_inf=True)
        self.normalization = check_choice(normalization, 'normalization', NORMALIZATIONS)
        if normalization == 'fastmri' and (num_coils is not None or snr_db is not None):
            raise ValueError("`normalization`='fastmri' gives real magnitudes without "
                             'k-space; drop `num_coils` and `snr_db` or use "std"')
        super().__init__(seed, **kwargs)

    @property
    def population(self):
        """Number of subjects the stream draws from."""
        return self.num_subjects if self.num_subjects is not None else 2 ** 62 // self.modulus

    def draw_subjects(self, index, split='train'):
        """Subject numbers of generated batch ``index``, int64 ``(batch_size,)``.

        Examples
        --------
        >>> stream = SimulatedMRIDataset(16, batch_size=3, subjects=(5, 2), num_subjects=4)
        >>> subjects = stream.draw_subjects(0)
        >>> bool((subjects % 5 == 2).all() and (subjects < 20).all())
        True
        """
        return self._draw(batch_generator(self.seed, index, split))

    def _draw(self, generator):
        draws = torch.randint(self.population, (self.batch_size,), generator=generator)
        return draws * self.modulus + self.remainder

    def generate(self, index, split='train'):
        """Simulate batch number ``index`` of a seed stream, ignoring ``repeat``.

        Parameters
        ----------
        index : int
            Non-negative number of the generated batch.
        split : {'train', 'validation'}, optional
            Seed stream (see `odl_wasserstein.data.batch_generator`).

        Returns
        -------
        dict
            See the class notes.
        """
        generator = batch_generator(self.seed, index, split)
        subjects = self._draw(generator)
        images = torch.stack([simulated_subject_image(s, self.shape)
                              for s in subjects.tolist()])[:, None]
        batch = {'subject': subjects}
        kspace = None
        if self.num_coils is not None or self.snr_db is not None:
            maps = None
            if self.num_coils is not None:
                maps = birdcage_coil_maps(self.shape, self.num_coils)
                batch['coil_maps'] = maps.expand(len(images), -1, -1, -1).clone()
            kspace = simulate_kspace(images, maps, self.snr_db, generator)
        images, offset, scale = normalize_mri_images(images, self.normalization)
        batch.update(image=images, offset=offset.float(), scale=scale.float())
        if kspace is not None:
            batch['kspace'] = kspace / scale.reshape(-1, 1, 1, 1)
        return batch
