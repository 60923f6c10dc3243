"""Batched proximal maps of the deviation penalties of the sparse latent search.

`l1_proximal` is the soft threshold of ``t ||u||_1``; `tv_proximal` the
proximal map of ``t TV(u)`` (isotropic total variation with forward
differences), computed by the fast gradient projection on the dual of
Beck and Teboulle (2009). Both take one step ``t`` per sample, so that
every sample of a batch of searches keeps its own backtracked step.
"""

import torch

__all__ = ('l1_proximal', 'tv_proximal', 'total_variation')


def _per_sample(t, like):
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, *([1] * (like.ndim - 1))) if t.ndim else t


def l1_proximal(v, t):
    """``argmin_u 1/2 ||u - v||^2 + t ||u||_1``, the soft threshold.

    Parameters
    ----------
    v : torch.Tensor
        ``(B, ...)``.
    t : float or torch.Tensor
        Threshold, a number or one per sample ``(B,)``.

    Examples
    --------
    >>> l1_proximal(torch.tensor([[-2.0, 0.5, 3.0]]), 1.0)
    tensor([[-1.,  0.,  2.]])
    """
    t = _per_sample(t, v)
    return torch.sign(v) * torch.clamp(v.abs() - t, min=0)


def _gradient(u):
    """Forward differences along the last two axes, zero past the border: ``(2, ...)``."""
    rows = torch.zeros_like(u)
    cols = torch.zeros_like(u)
    rows[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    cols[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    return torch.stack((rows, cols))


def _gradient_transpose(p):
    """The transpose of `_gradient` (minus the divergence)."""
    rows, cols = p[0], p[1]
    out = torch.zeros_like(rows)
    out[..., 1:, :] += rows[..., :-1, :]
    out[..., :-1, :] -= rows[..., :-1, :]
    out[..., :, 1:] += cols[..., :, :-1]
    out[..., :, :-1] -= cols[..., :, :-1]
    return out


def total_variation(u):
    """Isotropic total variation of each sample over its last two axes, ``(B,)``.

    Examples
    --------
    >>> u = torch.zeros(1, 4, 4)
    >>> u[0, :, 2:] = 1.0
    >>> total_variation(u)
    tensor([4.])
    """
    grad = _gradient(u)
    return grad.square().sum(0).sqrt().flatten(1).sum(1)


def tv_proximal(v, t, n_iter=50):
    """``argmin_u 1/2 ||u - v||^2 + t TV(u)``, batched, by dual fast gradient projection.

    Parameters
    ----------
    v : torch.Tensor
        ``(B, ..., H, W)``; TV is taken over the last two axes.
    t : float or torch.Tensor
        Weight, a number or one per sample ``(B,)``, ``>= 0``.
    n_iter : int, optional
        Iterations of the dual method (its error decreases like
        ``1 / n_iter**2``).

    Notes
    -----
    The dual variable ``p`` lives in the pixelwise unit ball;
    ``u = v - t D^T p`` with ``D`` the forward differences (``||D||^2 <=
    8``), hence the step ``1 / (8 t)`` of Beck and Teboulle's FGP.

    References
    ----------
    Beck, A. and Teboulle, M. "Fast gradient-based algorithms for
    constrained total variation image denoising and deblurring problems."
    IEEE Trans. Image Process. 18 (2009). https://doi.org/10.1109/TIP.2009.2028250

    Examples
    --------
    A step of height 1 on 4 columns of 8 loses ``t / 4`` on each side:

    >>> v = torch.zeros(1, 8, 8, dtype=torch.float64)
    >>> v[0, :, 4:] = 1.0
    >>> u = tv_proximal(v, 0.5, n_iter=500)
    >>> [round(float(u[0, 0, k]), 3) for k in (0, 7)]
    [0.125, 0.875]
    """
    t = _per_sample(t, v)
    if not bool((t >= 0).all()):
        raise ValueError('the weight `t` of the TV proximal map must be >= 0')
    safe = torch.clamp(t, min=torch.finfo(v.dtype).tiny)
    step = 1.0 / (8.0 * safe)
    p = torch.zeros((2,) + tuple(v.shape), dtype=v.dtype, device=v.device)
    q, s = p.clone(), 1.0
    for _ in range(n_iter):
        ascent = q + step * _gradient(v - t * _gradient_transpose(q))
        p_next = ascent / torch.clamp(ascent.square().sum(0).sqrt(), min=1.0)
        s_next = (1 + (1 + 4 * s * s) ** 0.5) / 2
        q = p_next + ((s - 1) / s_next) * (p_next - p)
        p, s = p_next, s_next
    return v - t * _gradient_transpose(p)
