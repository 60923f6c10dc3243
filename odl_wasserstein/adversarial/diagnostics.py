"""How continuous a critic is along natural image variations (Dukler et al. 2019, Table 1).

An image is translated one pixel at a time (`translation_sequence`), the
sequence is fed to the critic, and the critic's curve is measured by its
normalised total variation (`total_variation_1d`) and its number of
crossings of a level (`zero_crossings`): `critic_continuity` does all of
it.
"""

import torch

from odl_wasserstein.adversarial.penalties import critic_values
from odl_wasserstein.util import check_choice, check_int, to_tensor

__all__ = ('translation_sequence', 'total_variation_1d', 'zero_crossings',
           'critic_continuity')


def translation_sequence(image, max_shift=None, axis=-2, fill=0.0):
    """Shift an image one pixel at a time, filling what is uncovered.

    Step ``k`` moves every pixel ``k`` positions along ``axis`` (towards
    higher indices: downwards for the default row axis); the ``k`` first
    rows become ``fill`` and the last ``k`` leave the image, as in the
    perturbation experiment of Dukler et al. (2019), section 4.1.

    Parameters
    ----------
    image : array-like, shape ``(C, H, W)`` or ``(C, D, H, W)``
    max_shift : int, optional
        Largest shift; default the image's size along ``axis`` (the image
        has then moved out entirely).
    axis : int, optional
        Spatial axis of the shift (negative: counted from the end).
    fill : float, optional
        Value of the uncovered pixels (the background).

    Returns
    -------
    torch.Tensor, shape ``(max_shift + 1, *image.shape)``
        Shifts ``0, 1, ..., max_shift``.

    Examples
    --------
    >>> image = torch.arange(1.0, 5.0).reshape(1, 4, 1)
    >>> translation_sequence(image, max_shift=2)[:, 0, :, 0]
    tensor([[1., 2., 3., 4.],
            [0., 1., 2., 3.],
            [0., 0., 1., 2.]])
    """
    image = to_tensor(image)
    if image.ndim not in (3, 4):
        raise ValueError('`image` must be one image (C, H, W) or (C, D, H, W), got shape '
                         f'{tuple(image.shape)}')
    if not -image.ndim < axis < image.ndim or axis % image.ndim == 0:
        raise ValueError(f'`axis` must be a spatial axis of an image of shape '
                         f'{tuple(image.shape)} (not the channel axis 0), got {axis!r}')
    axis = axis % image.ndim
    length = image.shape[axis]
    max_shift = length if max_shift is None else check_int(max_shift, 'max_shift')
    frames = [image]
    for shift in range(1, max_shift + 1):
        kept = image.narrow(axis, 0, max(length - shift, 0))
        filler_shape = list(image.shape)
        filler_shape[axis] = min(shift, length)
        filler = torch.full(filler_shape, float(fill), dtype=image.dtype, device=image.device)
        frames.append(torch.cat([filler, kept], dim=axis))
    return torch.stack(frames)


def total_variation_1d(curves, normalize='range'):
    """Total variation ``sum_k |c_{k+1} - c_k|`` of curves, optionally normalised.

    Parameters
    ----------
    curves : array-like, shape ``(..., K)``
    normalize : {'range', None}, optional
        ``'range'`` divides by ``max c - min c``: 1 for a monotone curve, and
        the more a curve oscillates, the larger (0 for a constant curve).

    Returns
    -------
    torch.Tensor, shape ``(...)``

    Examples
    --------
    >>> curves = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0]])
    >>> total_variation_1d(curves, normalize=None).tolist()
    [3.0, 3.0]
    >>> total_variation_1d(curves).tolist()
    [1.0, 3.0]
    """
    curves = to_tensor(curves)
    check_choice(normalize, 'normalize', ('range', None))
    variation = curves.diff(dim=-1).abs().sum(dim=-1)
    if normalize is None:
        return variation
    spread = curves.amax(dim=-1) - curves.amin(dim=-1)
    return torch.where(spread > 0, variation / torch.where(spread > 0, spread, 1.0),
                       torch.zeros_like(variation))


def zero_crossings(curves, threshold=0.0):
    """Number of sign changes of ``c - threshold`` along the last axis.

    Values exactly at the threshold are skipped, so a curve that passes
    through it (``+, 0, -``) crosses once and one that touches it
    (``+, 0, +``) does not cross.

    Parameters
    ----------
    curves : array-like, shape ``(..., K)``
    threshold : float or array-like broadcastable to ``(...)``, optional

    Returns
    -------
    torch.Tensor, shape ``(...)``, int64

    Examples
    --------
    >>> zero_crossings(torch.tensor([1.0, -1.0, 2.0, 3.0, -0.5])).item()
    3
    >>> zero_crossings(torch.tensor([1.0, -1.0, 2.0, 3.0, -0.5]), threshold=2.5).item()
    2
    >>> zero_crossings(torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, 1.0]])).tolist()
    [1, 0]
    """
    curves = to_tensor(curves)
    centred = curves - torch.as_tensor(threshold, dtype=curves.dtype,
                                       device=curves.device)[..., None]
    signs = torch.sign(centred).reshape(-1, curves.shape[-1])
    counts = []
    for row in signs:
        nonzero = row[row != 0]
        counts.append(int((nonzero[1:] != nonzero[:-1]).sum()))
    return torch.tensor(counts, dtype=torch.int64, device=curves.device).reshape(
        curves.shape[:-1])


def critic_continuity(critic, images, max_shift=None, axis=-2, fill=0.0, threshold=0.0,
                      batch_size=64):
    """Critic values along one-pixel translations of images (Dukler et al. 2019, Table 1).

    Each image is translated one pixel at a time (`translation_sequence`),
    the sequence is fed to the critic, and the resulting curve is measured
    by its normalised total variation (`total_variation_1d` with
    ``'range'``: 1 for a monotone curve) and its number of zero crossings
    about ``threshold`` (`zero_crossings`). A critic that is continuous
    with respect to translations has few crossings and a total variation
    near 1.

    The paper reports "total variation (normalized)" and "zero crossings"
    without defining the normalisation or the level of the crossings; here
    the variation is normalised by each curve's range and the level is a
    parameter. A WGAN critic is defined up to an additive constant, so a
    meaningful level is the critic's decision threshold, e.g. the midpoint
    of its mean values on real and on generated images.

    Parameters
    ----------
    critic : callable
        Maps ``(N, C, ...)`` to one value per sample.
    images : array-like, shape ``(N, C, H, W)`` or ``(N, C, D, H, W)``
    max_shift, axis, fill :
        See `translation_sequence`.
    threshold : float, optional
        Level of the zero crossings.
    batch_size : int, optional
        Images translated and evaluated together.

    Returns
    -------
    dict
        ``'curves'`` ``(N, max_shift + 1)``, ``'total_variation'`` ``(N,)``,
        ``'zero_crossings'`` ``(N,)`` (tensors) and their means
        ``'mean_total_variation'``, ``'mean_zero_crossings'`` (floats).

    Examples
    --------
    A critic that sums the top half of the image decreases monotonically
    as the image moves down:

    >>> critic = lambda x: x[:, :, :4].flatten(1).sum(1) - 2.0
    >>> result = critic_continuity(critic, torch.ones(2, 1, 8, 8))
    >>> result['curves'][0, :5].tolist()
    [30.0, 22.0, 14.0, 6.0, -2.0]
    >>> result['mean_total_variation'], result['mean_zero_crossings']
    (1.0, 1.0)
    """
    images = to_tensor(images)
    if images.ndim not in (4, 5):
        raise ValueError('`images` must be a batch (N, C, H, W) or (N, C, D, H, W), got '
                         f'shape {tuple(images.shape)}')
    if axis >= 0:
        raise ValueError(f'`axis` must count from the end (e.g. -2 for rows), got {axis!r}')
    batch_size = check_int(batch_size, 'batch_size', minimum=1)
    curves = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start:start + batch_size]
            sequences = torch.stack([translation_sequence(image, max_shift, axis, fill)
                                     for image in chunk])  # (B, K, C, ...)
            values = critic_values(critic, sequences.flatten(0, 1))
            curves.append(values.reshape(sequences.shape[:2]).to(torch.float64))
    curves = torch.cat(curves)
    variation = total_variation_1d(curves)
    crossings = zero_crossings(curves, threshold)
    return {'curves': curves, 'total_variation': variation, 'zero_crossings': crossings,
            'mean_total_variation': float(variation.mean()),
            'mean_zero_crossings': float(crossings.to(torch.float64).mean())}
