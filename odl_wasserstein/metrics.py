"""Image quality metrics as the papers define them.

- `psnr`: peak signal-to-noise ratio ``10 log10(R^2 / MSE)`` with data range
  ``R`` (the learned primal-dual papers use ``R = 1``, i.e. the range of
  the ground truth in their phantoms).
- `ssim`: structural similarity with scikit-image's defaults, which the
  papers use: 7 x 7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample
  covariances, averaged over the windows that lie inside the image.

Both are batched torch code: inputs ``(..., H, W)`` give one value per
leading index. They accept tensors, NumPy arrays and ODL elements.
"""

import torch
import torch.nn.functional as F

from odl_wasserstein.util import check_finite, to_tensor

__all__ = ('psnr', 'ssim')


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
    if data_range is None:
        dims = tuple(range(-ndim, 0))
        return reference.amax(dim=dims) - reference.amin(dim=dims)
    if data_range <= 0:
        raise ValueError(f'`data_range` must be positive, got {data_range}')
    return torch.as_tensor(float(data_range), dtype=reference.dtype,
                           device=reference.device)


def psnr(x, reference, data_range=None):
    """Peak signal-to-noise ratio in dB, per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth.
    data_range : float, optional
        Peak value ``R``; default ``reference.max() - reference.min()`` per
        image.

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
    """
    x, reference = _pair(x, reference)
    if x.ndim < 2:
        raise ValueError(f'images must have at least 2 axes, got {x.ndim}')
    peak = _data_range(reference, data_range, 2)
    mse = (x - reference).square().mean(dim=(-2, -1))
    return 10 * torch.log10(peak.square() / mse)


def ssim(x, reference, data_range=None, win_size=7, k1=0.01, k2=0.03):
    """Structural similarity (scikit-image's default definition), per image.

    Parameters
    ----------
    x, reference : array-like, shape ``(..., H, W)``
        Reconstruction and ground truth, ``H, W >= win_size``.
    data_range : float, optional
        Dynamic range ``R`` in the constants ``(K R)^2``; default
        ``reference.max() - reference.min()`` per image.
    win_size : int, optional
        Odd side of the uniform window.
    k1, k2 : float, optional
        Stabilising constants.

    Returns
    -------
    torch.Tensor
        Shape ``(...)``, values in ``[-1, 1]``, 1 for identical images.

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
