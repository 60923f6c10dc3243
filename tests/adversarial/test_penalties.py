"""Tests for `odl_wasserstein.adversarial.penalties`."""

import itertools

import numpy as np
import pytest
import torch

from odl_wasserstein.adversarial import (
    NEIGHBOURS_2D, NEIGHBOURS_3D, gradient_penalty, ground_metric_norm2,
    interpolates, safe_sqrt)


# --- Dense reference straight from the paper's definition -------------------

def dense_laplacian(p, offsets, omega, degree_normalize):
    """Dense ``L(p)`` of Proposition 5 for one sample ``p`` of shape (C, ...).

    Vertices: all entries (channels included); edges: same channel, spatial
    difference ``+-o`` for an offset ``o``, weight ``omega[k]``.
    """
    shape = p.shape
    n = int(np.prod(shape))
    index = np.arange(n).reshape(shape)
    w = np.zeros((n, n))
    for (k, o), c in itertools.product(enumerate(offsets), range(shape[0])):
        for pos in itertools.product(*(range(s) for s in shape[1:])):
            other = tuple(a + b for a, b in zip(pos, o))
            if all(0 <= a < s for a, s in zip(other, shape[1:])):
                i, j = index[(c,) + pos], index[(c,) + other]
                assert w[i, j] == 0
                w[i, j] = w[j, i] = omega[k]
    if degree_normalize:
        d = w.sum(1) / w.sum()
    else:
        d = np.ones(n)
    q = p.reshape(-1) / np.where(d > 0, d, 1.0)
    lap = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j and w[i, j] > 0:
                lap[i, j] = -0.5 * w[i, j] * (q[i] + q[j])
        lap[i, i] = sum(0.5 * w[i, k] * (q[i] + q[k])
                        for k in range(n) if k != i and w[i, k] > 0)
    return lap


def dense_norm2(g, x, offsets, omega=2.0, degree_normalize=False, alpha=0.0,
                gamma=1.0, intensity='minmax'):
    g, x = g.detach().numpy(), x.detach().numpy()
    omega = [omega] * len(offsets) if np.isscalar(omega) else list(omega)
    out = []
    for gs, xs in zip(g, x):
        p = xs
        if intensity == 'minmax':
            p = (xs - xs.min()) / (xs.max() - xs.min())
        lap = dense_laplacian(p, offsets, omega, degree_normalize)
        n = lap.shape[0]
        lt = lap + alpha * np.ones((n, n)) + gamma * np.eye(n)
        v = gs.reshape(-1)
        out.append(v @ lt @ v)
    return np.array(out)


def _rand(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


# --- ground_metric_norm2 against the dense matrix ---------------------------

@pytest.mark.parametrize('degree_normalize', [False, True])
@pytest.mark.parametrize('alpha', [0.0, 0.7])
def test_ground_metric_matches_dense_2d(degree_normalize, alpha):
    g, x = _rand((2, 2, 5, 6), 0), _rand((2, 2, 5, 6), 1)
    ref = dense_norm2(g, x, NEIGHBOURS_2D, degree_normalize=degree_normalize,
                      alpha=alpha, gamma=0.3)
    val = ground_metric_norm2(g, x, degree_normalize=degree_normalize,
                              alpha=alpha, gamma=0.3)
    assert val.shape == (2,)
    np.testing.assert_allclose(val.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('degree_normalize', [False, True])
@pytest.mark.parametrize('alpha', [0.0, 1.3])
def test_ground_metric_matches_dense_3d(degree_normalize, alpha):
    g, x = _rand((2, 2, 3, 4, 4), 2), _rand((2, 2, 3, 4, 4), 3)
    ref = dense_norm2(g, x, NEIGHBOURS_3D, degree_normalize=degree_normalize,
                      alpha=alpha)
    val = ground_metric_norm2(g, x, degree_normalize=degree_normalize,
                              alpha=alpha)
    np.testing.assert_allclose(val.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_ground_metric_custom_offsets_weights_no_minmax():
    offsets = [(0, 1), (3, -2), (4, 0)]
    omega = [0.5, 1.5, 3.0]
    g = _rand((3, 1, 5, 6), 4)
    x = torch.rand((3, 1, 5, 6), dtype=torch.float64,
                   generator=torch.Generator().manual_seed(5))
    for dn in (False, True):
        ref = dense_norm2(g, x, offsets, omega=omega, degree_normalize=dn,
                          alpha=0.2, gamma=0.0, intensity='none')
        val = ground_metric_norm2(g, x, neighbours=offsets, edge_weight=omega,
                                  degree_normalize=dn, alpha=0.2, gamma=0.0,
                                  intensity='none')
        np.testing.assert_allclose(val.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_ground_metric_authors_form():
    # Default: sum over edges of (g_i - g_j)^2 (p_i + p_j) + ||g||^2.
    g, x = _rand((1, 1, 4, 4), 6), _rand((1, 1, 4, 4), 7)
    p = (x - x.min()) / (x.max() - x.min())
    expected = (g * g).sum()
    for dy, dx in NEIGHBOURS_2D:
        for i, j in itertools.product(range(4), range(4)):
            if 0 <= i + dy < 4 and 0 <= j + dx < 4:
                a, b = (0, 0, i, j), (0, 0, i + dy, j + dx)
                expected = expected + (g[a] - g[b]) ** 2 * (p[a] + p[b])
    torch.testing.assert_close(ground_metric_norm2(g, x)[0], expected,
                               rtol=1e-12, atol=1e-12)


def test_ground_metric_gradcheck():
    g = _rand((2, 2, 4, 5), 8).requires_grad_(True)
    x = _rand((2, 2, 4, 5), 9)
    assert torch.autograd.gradcheck(
        lambda g: ground_metric_norm2(g, x, degree_normalize=True, alpha=0.5),
        (g,))
    g3 = _rand((1, 1, 3, 3, 3), 10).requires_grad_(True)
    x3 = _rand((1, 1, 3, 3, 3), 11)
    assert torch.autograd.gradcheck(lambda g: ground_metric_norm2(g, x3),
                                    (g3,))


def test_ground_metric_constant_intensity_and_tiny_grid():
    g = _rand((1, 1, 1, 1), 12)
    # No edge fits a 1 x 1 grid: only gamma and alpha terms remain.
    val = ground_metric_norm2(g, torch.zeros_like(g), degree_normalize=True,
                              alpha=2.0)
    torch.testing.assert_close(val, 3.0 * g.reshape(1) ** 2)


# --- interpolates -----------------------------------------------------------

def test_interpolates():
    real = torch.ones(5, 1, 3, 3)
    fake = -torch.ones(5, 1, 3, 3)
    x = interpolates(real, fake, generator=torch.Generator().manual_seed(0))
    assert x.requires_grad and x.is_leaf
    t = (x + 1) / 2
    assert bool(((t >= 0) & (t <= 1)).all())
    assert bool((t == t[:, :1, :1, :1]).all())
    assert len(set(t[:, 0, 0, 0].tolist())) == 5
    again = interpolates(real, fake,
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, again)


# --- gradient_penalty values ------------------------------------------------

def _linear_critic(a):
    return lambda x: (x * a).flatten(1).sum(1)


@pytest.mark.parametrize('scale', [0.3, 2.5])
def test_linear_critic_two_and_one_sided(scale):
    a = _rand((1, 2, 3, 3), 13)
    a = scale * a / a.norm()
    real, fake = _rand((4, 2, 3, 3), 14), _rand((4, 2, 3, 3), 15)
    critic = _linear_critic(a)
    two = gradient_penalty(critic, real, fake, penalty_weight=1.0)
    one = gradient_penalty(critic, real, fake, penalty='one-sided', penalty_weight=3.0)
    expected = (scale - 1) ** 2
    assert abs(two.item() - expected) < 1e-12
    assert abs(one.item() - (3.0 * expected if scale > 1 else 0.0)) < 1e-12


def test_linear_critic_wasserstein_matches_dense():
    a = _rand((1, 2, 4, 5), 16)
    real, fake = _rand((3, 2, 4, 5), 17), _rand((3, 2, 4, 5), 18)
    gen = torch.Generator().manual_seed(19)
    val = gradient_penalty(_linear_critic(a), real, fake, penalty='wasserstein',
                           penalty_weight=4.0, generator=gen, degree_normalize=True,
                           alpha=0.1)
    x = interpolates(real, fake, generator=torch.Generator().manual_seed(19))
    w = dense_norm2(a.expand_as(x), x, NEIGHBOURS_2D, degree_normalize=True,
                    alpha=0.1)
    expected = 4.0 * np.mean((np.sqrt(w) - 1) ** 2)
    assert abs(val.item() - expected) < 1e-10 * max(1.0, expected)


# --- double backward and zero gradients --------------------------------------

def _conv_critic(ndim=2, channels=2):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d if ndim == 2 else torch.nn.Conv3d
    return torch.nn.Sequential(
        conv(channels, 4, 3, padding=1), torch.nn.Softplus(),
        torch.nn.Flatten(), torch.nn.LazyLinear(1)).double()


@pytest.mark.parametrize('kind,shape', [
    ('two-sided', (3, 2, 6, 6)), ('one-sided', (3, 2, 6, 6)),
    ('wasserstein', (3, 2, 6, 6)), ('wasserstein', (2, 2, 3, 4, 4))])
def test_double_backward_reaches_parameters(kind, shape):
    critic = _conv_critic(len(shape) - 2, shape[1])
    real, fake = _rand(shape, 20), _rand(shape, 21)
    critic(real)  # materialise the lazy layer
    # A large weight scale makes ||g|| > 1, so the one-sided term is active.
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(30.0)
    penalty = gradient_penalty(critic, real, fake, penalty=kind,
                               generator=torch.Generator().manual_seed(0))
    assert penalty.ndim == 0 and torch.isfinite(penalty)
    penalty.backward()
    for name, p in critic.named_parameters():
        if name == '3.bias':  # the final bias does not enter g
            continue
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kind', ['two-sided', 'one-sided', 'wasserstein'])
def test_zero_gradient_is_safe(kind):
    real, fake = _rand((3, 1, 4, 4), 22), _rand((3, 1, 4, 4), 23)
    # Linear critic with zero weights: g = 0, connected to the parameter.
    a = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    critic = lambda x: (x * a).flatten(1).sum(1) + b
    penalty = gradient_penalty(critic, real, fake, penalty=kind, penalty_weight=2.0)
    loss = critic(fake).mean() - critic(real).mean() + penalty
    loss.backward()
    expected = 0.0 if kind == 'one-sided' else 2.0
    assert penalty.item() == expected
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    # Gradient of the penalty part is 0 (safe sqrt), so only the mean gap is
    # left in a's gradient.
    torch.testing.assert_close(a.grad[0], (fake.mean(0) - real.mean(0)))

    # A critic that ignores its input entirely.
    const = lambda x: torch.zeros(x.shape[0], dtype=x.dtype) + b
    penalty = gradient_penalty(const, real, fake, penalty=kind, penalty_weight=2.0)
    assert torch.isfinite(penalty) and penalty.item() == expected
    assert torch.isfinite(safe_sqrt(torch.zeros(3))).all()


# --- argument errors ---------------------------------------------------------

def test_errors():
    real = torch.zeros(2, 1, 4, 4)
    critic = _linear_critic(torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match='same shape'):
        gradient_penalty(critic, real, torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError, match='same dtype'):
        gradient_penalty(critic, real, real.double())
    with pytest.raises(ValueError, match='floating point'):
        interpolates(real.long(), real.long())
    with pytest.raises(ValueError, match='`penalty` must be one of'):
        gradient_penalty(critic, real, real, penalty='three-sided')
    with pytest.raises(ValueError, match='`penalty_weight` must be a finite number >= 0'):
        gradient_penalty(critic, real, real, penalty_weight=-1.0)
    with pytest.raises(TypeError, match="only apply to penalty='wasserstein'"):
        gradient_penalty(critic, real, real, alpha=1.0)
    with pytest.raises(ValueError, match='NaN'):
        interpolates(real, torch.full_like(real, float('nan')))
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(2, 3),
                         torch.zeros(2, 3), penalty='wasserstein')
    with pytest.raises(ValueError, match='one value per sample'):
        gradient_penalty(lambda x: x, real, real)
    g = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match='tuple of 2 ints'):
        ground_metric_norm2(g, g, neighbours=[(1, 0, 0)])
    with pytest.raises(ValueError, match='twice'):
        ground_metric_norm2(g, g, neighbours=[(1, 0), (-1, 0)])
    with pytest.raises(ValueError, match='zero offset'):
        ground_metric_norm2(g, g, neighbours=[(0, 0)])
    with pytest.raises(ValueError, match='`edge_weight`'):
        ground_metric_norm2(g, g, edge_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match='`alpha`'):
        ground_metric_norm2(g, g, alpha=-1.0)
    with pytest.raises(ValueError, match='`intensity`'):
        ground_metric_norm2(g, g, intensity='zscore')


# -- regressions of the reliability campaign (issue 10) ----------------------------

def test_authors_fixed_intensity_map():
    """Item 13: the authors map intensities of images in [-1, 1] by (x + 1) / 2."""
    from odl_wasserstein.adversarial import AUTHORS_INTENSITY

    generator = torch.Generator().manual_seed(0)
    g = torch.randn(3, 2, 5, 6, dtype=torch.float64, generator=generator)
    x = 2 * torch.rand(3, 2, 5, 6, dtype=torch.float64, generator=generator) - 1
    fixed = ground_metric_norm2(g, x, intensity=AUTHORS_INTENSITY)
    assert fixed.tolist() == pytest.approx(
        ground_metric_norm2(g, (x + 1) / 2, intensity='none').tolist(), rel=1e-14)
    # The authors' weight of an edge, 1 + (X_i + X_j) / 2, by hand on one pattern.
    dg = g[..., :, 1:] - g[..., :, :-1]
    by_hand = (g * g).sum((1, 2, 3)) + 2 * (
        dg ** 2 * (1 + (x[..., :, 1:] + x[..., :, :-1]) / 2) / 2).sum((1, 2, 3))
    one_pattern = ground_metric_norm2(g, x, intensity=AUTHORS_INTENSITY,
                                      neighbours=[(0, 1)])
    assert one_pattern.tolist() == pytest.approx(by_hand.tolist(), rel=1e-13)
    # Unlike 'minmax', a fixed map does not depend on the sample's own range.
    assert not torch.allclose(fixed, ground_metric_norm2(g, x, intensity='minmax'))


@pytest.mark.parametrize('intensity, error', [
    ((1.0, 1.0), ValueError), ((0.0, float('nan')), ValueError), ('range', ValueError),
    ((0.0,), TypeError), (3.0, TypeError)])
def test_intensity_errors(intensity, error):
    g = torch.ones(1, 1, 3, 3)
    with pytest.raises(error, match='`intensity`'):
        ground_metric_norm2(g, g, intensity=intensity)


def test_empty_batches_are_refused():
    """Item 8: a batch of 0 samples gave a silent NaN critic loss."""
    from odl_wasserstein.adversarial import critic_loss, generator_loss

    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(9, 1))
    empty = torch.zeros(0, 1, 3, 3)
    for penalty in ('two-sided', 'wasserstein', None):
        with pytest.raises(ValueError, match='hold no samples'):
            critic_loss(critic, empty, empty, penalty=penalty)
    with pytest.raises(ValueError, match='hold no samples'):
        gradient_penalty(critic, empty, empty)
    with pytest.raises(ValueError, match='`fake` holds no samples'):
        generator_loss(critic, empty)
