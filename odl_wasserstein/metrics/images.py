"""Image quality metrics as the papers define them.

- `psnr`: peak signal-to-noise ratio ``10 log10(R^2 / MSE)`` with data range
  ``R`` (the learned primal-dual papers use ``R = 1``, i.e. the range of
  the ground truth in their phantoms).
- `snr`: signal-to-noise ratio of Lei et al.'s MRI papers, in the paper's
  reading (mean signal over mean absolute error, the counterpart of the
  l1 loss) or their code's (energy ratio on a centre crop).
- `ssim`: structural similarity with scikit-image's defaults, which the
  papers use: 7 x 7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample
  covariances, averaged over the windows that lie inside the image.
- `transport_distance`: a shape-sensitive distance in pixels, the square
  root of the debiased Sinkhorn divergence with the squared Euclidean cost
  between the normalised images (an entropic W2). Unlike PSNR it sees how
  far mass is from where it should be, not only how much differs.
- `sliced_transport_distance`: the sliced Wasserstein-1 distance in pixels
  between the normalised images, exact and fast at any image size (sorting,
  no Sinkhorn iterations): the mean over directions of the 1-D transport
  distance between the images' projections.
- `peak_intensity`: a high quantile of the image, relative to the
  reference's; smearing lowers it (Proposition 1 of the Wasserstein-loss
  paper).

The metrics are batched torch code: inputs ``(..., H, W)`` give one value
per leading index. They accept tensors, NumPy arrays and ODL elements.
"""

import math
import numbers

import torch
import torch.nn.functional as F

from odl_wasserstein.transport import SquaredEuclideanCost, sinkhorn_divergence
from odl_wasserstein.util import check_choice, check_finite, check_int, check_positive, to_tensor

__all__ = ('psnr', 'snr', 'ssim', 'volume_max', 'transport_distance', 'sliced_transport_distance',
           'peak_intensity')


def _pair(x, reference):
    x = to_tensor(x)
    reference = to_tensor(reference)
    if x.shape != reference.shape:
        raise ValueError(
            f'`x` and `reference` must have the same shape, got '
            f'{tuple(x.shape)} and {tuple(reference.shape)}'
        )
    if x.is_complex() or reference.is_complex():
        raise TypeError('metrics are defined for real images; pass magnitudes')
    dtype = torch.promote_types(torch.promote_types(x.dtype, reference.dtype),
                                torch.float32)
    x, reference = x.to(dtype), reference.to(device=x.device, dtype=dtype)
    check_finite(x, 'x')
    check_finite(reference, 'reference')
    return x, reference


def _data_range(reference, data_range, ndim):
    """The peak value per image: the reference's range, its maximum, or given."""
    dims = tuple(range(-ndim, 0))
    if data_range is None:
        return reference.amax(dim=dims) - reference.amin(dim=dims)
    if isinstance(data_range, str):
        check_choice(data_range, 'data_range', ('max',))
        return reference.abs().amax(dim=dims)
    if isinstance(data_range, torch.Tensor) and data_range.numel() > 1:
        peak = data_range.to(dtype=reference.dtype, device=reference.device)
        if peak.shape != reference.shape[:-ndim] or not bool((peak > 0).all()):
            raise ValueError(f'`data_range` as a tensor must hold one positive value per '
                             f'image, shape {tuple(reference.shape[:-ndim])}, got '
                             f'{tuple(peak.shape)}')
        return peak
    data_range = check_positive(data_range, 'data_range')
    return torch.as_tensor(data_range, dtype=reference.dtype,
                           device=reference.device)


def psnr(x, reference, data_range=None):
    """Peak signal-to-noise ratio in dB, per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth.
    data_range : float, 'max' or torch.Tensor, optional
        Peak value ``R``: default ``reference.max() - reference.min()`` per
        image; ``'max'``: ``max |reference|`` per image (the OT-cycleGAN
        paper's ``20 log10(sqrt(n) ||x*||_inf / ||x - x*||_2)``); a tensor
        of one value per image, e.g. `volume_max` for fastMRI's PSNR.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``; ``inf`` where ``x == reference``.

    Examples
    --------
    >>> reference = torch.zeros(8, 8)
    >>> reference[2:6, 2:6] = 1
    >>> round(float(psnr(reference + 0.1, reference)), 4)
    20.0
    >>> round(float(psnr(reference + 1.1, reference + 1, data_range='max')), 4)
    26.0206
    """
    x, reference = _pair(x, reference)
    if x.ndim < 2:
        raise ValueError(f'images must have at least 2 axes, got {x.ndim}')
    peak = _data_range(reference, data_range, 2)
    mse = (x - reference).square().mean(dim=(-2, -1))
    return 10 * torch.log10(peak.square() / mse)


def _magnitude_pair(x, reference):
    """`_pair` of the moduli: complex images are compared by magnitude."""
    x, reference = to_tensor(x), to_tensor(reference)
    return _pair(x.abs() if x.is_complex() else x,
                 reference.abs() if reference.is_complex() else reference)


def _snr_crop(crop, definition, shape):
    """Pixels cut from each side ``(top/bottom, left/right)``.

    The code's default ``(20, 24)`` belongs to 256 x 320 images; other
    sizes get the same fraction of each side.
    """
    if crop is None:
        if definition == 'paper':
            return 0, 0
        return round(20 * shape[0] / 256), round(24 * shape[1] / 320)
    if isinstance(crop, (numbers.Number, str)):
        crop = (crop, crop)
    pair = tuple(crop) if isinstance(crop, (tuple, list)) else ()
    if len(pair) != 2:
        raise ValueError(f'`crop` must be an int or a pair (rows, columns) of pixels '
                         f'cut from each side, got {crop!r}')
    pair = tuple(check_int(c, 'crop') for c in pair)
    if 2 * pair[0] >= shape[0] or 2 * pair[1] >= shape[1]:
        raise ValueError(f'`crop` {pair} leaves nothing of the {shape[0]} x {shape[1]} '
                         f'images; cut fewer than half of each side')
    return pair


def snr(x, reference, definition='paper', crop=None):
    r"""Signal-to-noise ratio in dB of Lei et al.'s MRI papers, per image.

    Two definitions, both on magnitudes (complex input is replaced by its
    modulus):

    - ``'paper'``: ``20 log10(mean |x*| / mean |x - x*|)``, the mean
      signal over the mean absolute error. The paper (section IV.B) says
      "The SNR of each output image is obtained by averaging pixel-wise
      SNRs where the signal is the pixel value of the fully-sampled image
      and the noise is the absolute difference between pixel values of the
      output and fully-sampled images. Note that minimizing the paired
      l1 loss is the same as maximizing SNR". Read literally, the mean of
      the per-pixel values ``20 log10(|x*_i| / |x_i - x*_i|)`` is ``+inf``
      wherever a pixel is exact and ``-inf`` on the zero background, and
      minimising the l1 loss does not maximise it. The averaged signal
      over the averaged noise is finite and, for a fixed reference,
      decreases exactly as the l1 error grows, which is the remark's
      claim; this is the reading implemented here.
    - ``'code'``: ``10 log10(||x*||^2 / ||x* - x||^2)``, what the authors'
      code (lisakelei/Unpaired-GANCS, ``wgancs_train.py``) computes, on the
      magnitudes cropped to ``[20:-20, 24:-24]`` of its 256 x 320 images.
      The paper's Table II uses "the center 272 x 216 region out of a
      320 x 256 image", the same region transposed.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and fully-sampled reference, real or complex.
    definition : {'paper', 'code'}, optional
        Which of the two SNRs.
    crop : int or (int, int), optional
        Pixels cut from each side, ``(rows, columns)`` (one int for both).
        Default: none for ``'paper'``; for ``'code'`` the code's
        ``(20, 24)`` scaled to the image,
        ``(round(20 H / 256), round(24 W / 320))``. The paper's Table II on
        320 x 256 images is ``crop=(24, 20)``.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, in dB; ``inf`` where ``x == reference`` inside the
        crop (as `psnr`).

    Raises
    ------
    ValueError
        For different shapes, NaN or infinite values, a crop that leaves
        nothing, or a reference that is zero inside the crop (no signal).

    Examples
    --------
    An error of 0.1 on a quarter of an image of ones:

    >>> reference = torch.ones(8, 8)
    >>> x = reference.clone()
    >>> x[:4, :4] += 0.1
    >>> round(float(snr(x, reference)), 4)  # 20 log10(1 / 0.025)
    32.0412
    >>> round(float(snr(x, reference, 'code', crop=0)), 4)  # 10 log10(64 / 0.16)
    26.0206

    Complex images are compared by their magnitudes, so a global phase
    does not count; identical magnitudes give ``inf``:

    >>> float(snr(1j * reference, reference))
    inf
    """
    definition = check_choice(definition, 'definition', ('paper', 'code'))
    x, reference = _magnitude_pair(x, reference)
    if x.ndim < 2:
        raise ValueError(f'images must have at least 2 axes, got {x.ndim}')
    rows, cols = _snr_crop(crop, definition, tuple(x.shape[-2:]))
    window = (..., slice(rows, x.shape[-2] - rows), slice(cols, x.shape[-1] - cols))
    x, reference = x[window], reference[window]
    power = 1 if definition == 'paper' else 2
    signal = reference.abs().pow(power).sum(dim=(-2, -1))
    if not bool((signal > 0).all()):
        raise ValueError('`reference` is zero inside the crop in some image, so it has '
                         'no signal; pass images with content there or a smaller `crop`')
    noise = (x - reference).abs().pow(power).sum(dim=(-2, -1))
    # Equal pixel counts cancel in the ratio of means; 1/0 gives inf as in psnr.
    return (20 / power) * torch.log10(signal / noise)


def volume_max(images, volumes):
    """Per image, the largest value of all images of its volume (fastMRI's PSNR peak).

    fastMRI computes PSNR and SSIM of a slice with the maximum of its whole
    volume as the peak (``maxval = gt.max()`` over the volume), not the
    slice's; a volume's dark edge slices then score lower.

    Parameters
    ----------
    images : torch.Tensor, shape ``(N, H, W)``
    volumes : sequence of hashable, length ``N``
        The volume (file, subject) of each image.

    Returns
    -------
    torch.Tensor, shape ``(N,)``

    Examples
    --------
    >>> images = torch.stack([torch.full((2, 2), v) for v in (1.0, 3.0, 2.0)])
    >>> volume_max(images, ['a', 'a', 'b']).tolist()
    [3.0, 3.0, 2.0]
    """
    images = to_tensor(images)
    volumes = list(volumes)
    if images.ndim < 1 or len(volumes) != images.shape[0]:
        raise ValueError(f'`volumes` must name the volume of each of the {images.shape[0]} '
                         f'images, got {len(volumes)} names')
    peaks = images.reshape(images.shape[0], -1).amax(dim=1)
    largest = {}
    for volume, peak in zip(volumes, peaks.tolist()):
        largest[volume] = max(largest.get(volume, -math.inf), peak)
    return torch.tensor([largest[v] for v in volumes], dtype=peaks.dtype, device=peaks.device)


def ssim(x, reference, data_range=None, win_size=7, k1=0.01, k2=0.03):
    """Structural similarity (scikit-image's default definition), per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth, ``H, W >= win_size``.
    data_range : float, 'max' or torch.Tensor, optional
        Dynamic range ``R`` in the constants ``(K R)^2``; default
        ``reference.max() - reference.min()`` per image; ``'max'`` and a
        tensor of one value per image as in `psnr`.
    win_size : int, optional
        Odd side of the uniform window.
    k1, k2 : float, optional
        Stabilising constants.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, values in ``[-1, 1]``, 1 for identical images.

    Notes
    -----
    Lei et al.'s MRI code (lisakelei/Unpaired-GANCS) reports
    ``tf.image.ssim(max_val=1.0)`` of the magnitudes on the crop of `snr`'s
    ``'code'`` definition. ``data_range=1.0`` here is that ``max_val``, but
    TensorFlow uses an 11 x 11 Gaussian window (sigma 1.5) and population
    covariances (Wang et al.'s definition, scikit-image's
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``), so
    the values differ from these by up to a few hundredths.

    Examples
    --------
    >>> reference = torch.linspace(0, 1, 64).reshape(8, 8)
    >>> float(ssim(reference, reference))
    1.0
    >>> bool(ssim(reference.flip(0), reference) < 0)
    True
    """
    x, reference = _pair(x, reference)
    if win_size % 2 != 1 or win_size < 3:
        raise ValueError(f'`win_size` must be an odd int >= 3, got {win_size}')
    if x.ndim < 2 or min(x.shape[-2:]) < win_size:
        raise ValueError(
            f'images must be at least {win_size} x {win_size}, got shape '
            f'{tuple(x.shape)}'
        )
    batch_shape = x.shape[:-2]
    peak = _data_range(reference, data_range, 2).reshape(-1, 1, 1, 1)
    x = x.reshape(-1, 1, *x.shape[-2:])
    reference = reference.reshape(-1, 1, *reference.shape[-2:])

    def mean(t):
        return F.avg_pool2d(t, win_size, stride=1)

    n = win_size ** 2
    covariance_norm = n / (n - 1)
    mu_x, mu_y = mean(x), mean(reference)
    var_x = covariance_norm * (mean(x * x) - mu_x * mu_x)
    var_y = covariance_norm * (mean(reference * reference) - mu_y * mu_y)
    cov_xy = covariance_norm * (mean(x * reference) - mu_x * mu_y)
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
             / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return index.mean(dim=(-3, -2, -1)).reshape(batch_shape)


def transport_distance(x, reference, eps=1.0, tol=1e-5):
    """Entropic Wasserstein-2 distance in pixels between normalised images.

    ``sqrt(S(x+, r+))`` with ``S`` the debiased Sinkhorn divergence
    (`odl_wasserstein.transport.sinkhorn_divergence`) for the squared
    Euclidean cost in pixel units, ``x+ = max(x, 0)`` normalised to unit
    mass (mass differences are not measured here; compare means for that).

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
    eps : float, optional
        Entropic blur in squared pixels (``sqrt(eps)`` pixels).
    tol : float, optional
        Sinkhorn tolerance.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, in pixels.

    Examples
    --------
    A blob moved by 3 pixels is 3 pixels away:

    >>> y, x = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing='ij')
    >>> blob = torch.exp(-((y - 12) ** 2 + (x - 8) ** 2) / 4)
    >>> moved = torch.exp(-((y - 12) ** 2 + (x - 11) ** 2) / 4)
    >>> round(float(transport_distance(moved, blob)), 2)
    3.0
    """
    x, reference = _pair(x, reference)
    batch = x.shape[:-2]
    cost = SquaredEuclideanCost(tuple(x.shape[-2:]))
    flat_x = x.clamp_min(0).reshape((-1,) + tuple(x.shape[-2:]))
    flat_r = reference.clamp_min(0).reshape(flat_x.shape)
    divergence = sinkhorn_divergence(flat_x.double(), flat_r.double(), cost, eps,
                                     normalize=True, tol=tol)
    return divergence.clamp_min(0).sqrt().to(x.dtype).reshape(batch)


def sliced_transport_distance(x, reference, n_projections=64):
    r"""Sliced Wasserstein-1 distance in pixels between normalised images.

    For ``n_projections`` equispaced directions ``theta`` in ``[0, pi)``,
    each image's pixel masses are projected onto the line of ``theta`` and
    the exact 1-D transport distance ``int |F(s) - G(s)| ds`` between the
    projections (``F``, ``G`` their cumulative distributions) is taken;
    the result is the mean over directions. The images are ``max(x, 0)``
    normalised to unit mass, so only where mass sits counts, not how much
    there is. Exact, and ``O(n_projections * HW log HW)``, so it suits large
    images where `transport_distance` needs many Sinkhorn iterations.

    A translation by ``d`` pixels gives ``2 d / pi``: the mean of
    ``d |cos(angle)|`` over directions.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
    n_projections : int, optional
        Number of projection directions.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, in pixels.

    Examples
    --------
    A point moved by 10 pixels:

    >>> point = torch.zeros(32, 32)
    >>> point[5, 5] = 1
    >>> moved = torch.roll(point, 10, dims=0)
    >>> distance = sliced_transport_distance(moved, point, n_projections=360)
    >>> round(float(distance), 2), round(20 / math.pi, 2)
    (6.37, 6.37)
    """
    x, reference = _pair(x, reference)
    n_projections = check_int(n_projections, 'n_projections', minimum=1)
    batch, shape = x.shape[:-2], tuple(x.shape[-2:])
    dtype = torch.float64
    masses = []
    for name, image in (('x', x), ('reference', reference)):
        image = image.to(dtype).clamp_min(0).reshape((-1,) + shape).flatten(1)
        total = image.sum(dim=1, keepdim=True)
        if bool((total <= 0).any()):
            raise ValueError(f'`{name}` has no positive mass in some image; the '
                             'transport distance between normalised images needs it')
        masses.append(image / total)
    rows = torch.arange(shape[0], dtype=dtype, device=x.device)
    cols = torch.arange(shape[1], dtype=dtype, device=x.device)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing='ij')).flatten(1)  # (2, HW)
    angles = torch.arange(n_projections, dtype=dtype, device=x.device) * (
        math.pi / n_projections)
    directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (A, 2)
    positions, order = torch.sort(directions @ grid, dim=1)  # (A, HW)
    gaps = positions.diff(dim=1)  # (A, HW - 1)
    difference = masses[0] - masses[1]  # (B, HW)
    distances = []
    for sorted_order, gap in zip(order, gaps):
        cumulative = difference[:, sorted_order].cumsum(dim=1)[:, :-1]
        distances.append((cumulative.abs() * gap).sum(dim=1))
    result = torch.stack(distances, dim=1).mean(dim=1)
    return result.to(x.dtype).reshape(batch)


def peak_intensity(x, reference, quantile=0.999):
    """High-quantile intensity of ``x`` relative to that of ``reference``.

    1 for an image as peaked as the reference; a smeared image (the MSE
    optimum under misalignment) has a lower value.

    Examples
    --------
    >>> reference = torch.zeros(32, 32)
    >>> reference[10:12, :] = 1
    >>> float(peak_intensity(reference, reference))
    1.0
    >>> smeared = torch.nn.functional.avg_pool2d(reference[None], 5, 1, 2)[0]
    >>> round(float(peak_intensity(smeared, reference)), 2)
    0.4
    """
    x, reference = _pair(x, reference)
    dims_x = x.reshape(x.shape[:-2] + (-1,))
    dims_r = reference.reshape(dims_x.shape)
    return (torch.quantile(dims_x, quantile, dim=-1)
            / torch.quantile(dims_r, quantile, dim=-1))
