"""Tests of the Cartesian MRI forward operator `MRIForward`."""

import numpy as np
import odl
import pytest
import torch

from odl_wasserstein.operators.masks import random_lines_mask
from odl_wasserstein.operators.mri import MRIForward
from odl_wasserstein.testing import adjoint_ratio, random_element

COMPLEX_DTYPES = ('complex64', 'complex128')
TOL = {'complex64': 1e-4, 'complex128': 1e-5}
N_COILS = 3


def make_space(ndim, dtype='complex128', impl='numpy'):
    """Spaces with non-unit, anisotropic cells and odd/even sizes."""
    if ndim == 2:
        return odl.uniform_discr([-1, -1], [2, 3], (12, 9), dtype=dtype,
                                 impl=impl)
    return odl.uniform_discr([0, -1, 0], [1, 2, 0.5], (3, 4, 5), dtype=dtype,
                             impl=impl)


def make_mask(shape, seed=0):
    if len(shape) == 2:
        return random_lines_mask(shape, acceleration=3, acs_fraction=0.2,
                                 seed=seed)
    rng = np.random.default_rng(seed)
    return (rng.random(shape) < 0.4).astype(np.float32)


def make_coils(shape, n_coils=N_COILS, seed=1):
    rng = np.random.default_rng(seed)
    size = (n_coils,) + tuple(shape)
    return rng.standard_normal(size) + 1j * rng.standard_normal(size)


def to_numpy(element):
    data = element.data
    if isinstance(data, torch.Tensor):
        data = data.cpu().numpy()
    return np.asarray(data)


def fft_reference(x):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x), norm='ortho'))


def ifft_reference(k):
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(k), norm='ortho'))


def forward_reference(x, mask, coils):
    if coils is None:
        return mask * fft_reference(x)
    return np.stack([mask * fft_reference(c * x) for c in coils])


def transpose_reference(y, mask, coils):
    if coils is None:
        return ifft_reference(mask * y)
    return sum(np.conj(c) * ifft_reference(mask * yc) for c, yc in zip(coils, y))


# --- adjoint -------------------------------------------------------------

@pytest.mark.parametrize('dtype', COMPLEX_DTYPES)
@pytest.mark.parametrize('ndim', (2, 3))
@pytest.mark.parametrize('multi_coil', (False, True))
def test_adjoint(impl, dtype, ndim, multi_coil):
    space = make_space(ndim, dtype, impl)
    coils = make_coils(space.shape) if multi_coil else None
    op = MRIForward(space, make_mask(space.shape), coil_maps=coils)
    # ODL's inner products on PyTorch spaces are slow (they format the
    # tensors), so each test takes only the ratios it needs.
    assert abs(adjoint_ratio(op) - 1) < TOL[dtype]
    assert abs(adjoint_ratio(op.adjoint, seed=7) - 1) < TOL[dtype]


@pytest.mark.parametrize('dtype', COMPLEX_DTYPES)
def test_adjoint_of_adjoint(impl, dtype):
    space = make_space(2, dtype, impl)
    op = MRIForward(space, make_mask(space.shape), make_coils(space.shape))
    assert abs(adjoint_ratio(op.adjoint.adjoint, seed=3) - 1) < TOL[dtype]
    x = random_element(space)
    np.testing.assert_array_equal(to_numpy(op.adjoint.adjoint(x)),
                                  to_numpy(op(x)))


def test_adjoint_is_conjugate_transpose_for_weighted_spaces():
    # The cell volume is 0.25 * (1/3); a range weighted differently would
    # make the ODL adjoint a rescaled conjugate transpose.
    space = make_space(2)
    op = MRIForward(space, make_mask(space.shape), make_coils(space.shape))
    assert op.range.weighting == space.weighting
    y = random_element(op.range, seed=3)
    expected = transpose_reference(to_numpy(y), make_mask(space.shape),
                                   make_coils(space.shape))
    np.testing.assert_allclose(to_numpy(op.adjoint(y)), expected,
                               rtol=1e-12, atol=1e-12)


# --- forward values ------------------------------------------------------

@pytest.mark.parametrize('ndim', (2, 3))
@pytest.mark.parametrize('multi_coil', (False, True))
def test_forward_matches_numpy_reference(impl, ndim, multi_coil):
    space = make_space(ndim, 'complex128', impl)
    mask = make_mask(space.shape)
    coils = make_coils(space.shape) if multi_coil else None
    op = MRIForward(space, mask, coil_maps=coils)
    x = random_element(space, seed=2)
    y = op(x)
    assert y in op.range
    expected = forward_reference(to_numpy(x), mask, coils)
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-12, atol=1e-12)


def test_constant_image_has_energy_at_centre():
    # Odd and even sizes: the zero frequency sits at n // 2 on every axis.
    space = make_space(3)
    op = MRIForward(space, np.ones(space.shape))
    k = np.abs(to_numpy(op(space.one())))
    centre = tuple(n // 2 for n in space.shape)
    assert k[centre] == pytest.approx(np.sqrt(np.prod(space.shape)))
    k[centre] = 0
    assert k.max() < 1e-12


@pytest.mark.parametrize('mask_shape', ((9,), (1, 9), (12, 9)))
def test_broadcast_masks_agree(mask_shape):
    space = make_space(2)
    full = make_mask(space.shape)
    op_full = MRIForward(space, full)
    op = MRIForward(space, full[0].reshape(mask_shape) if mask_shape != (12, 9)
                    else full)
    x = random_element(space)
    np.testing.assert_allclose(to_numpy(op(x)), to_numpy(op_full(x)))
    assert tuple(op.mask.shape) == space.shape
    np.testing.assert_array_equal(op.mask.numpy(), full)


@pytest.mark.parametrize('kind', ('numpy_bool', 'torch', 'odl', 'list'))
def test_mask_input_types(kind):
    space = make_space(2)
    mask = make_mask(space.shape)
    if kind == 'numpy_bool':
        given = mask.astype(bool)
    elif kind == 'torch':
        given = torch.from_numpy(mask).double()
    elif kind == 'odl':
        given = space.real_space.element(mask)
    else:
        given = mask.tolist()
    x = random_element(space)
    expected = forward_reference(to_numpy(x), mask, None)
    np.testing.assert_allclose(to_numpy(MRIForward(space, given)(x)), expected,
                               rtol=1e-12, atol=1e-12)


def test_buffers_are_private_copies():
    space = make_space(2)
    mask = make_mask(space.shape)
    coils = make_coils(space.shape)
    op = MRIForward(space, mask, coils)
    x = random_element(space)
    before = to_numpy(op(x))
    mask[:] = 0
    coils[:] = 0
    op.mask.zero_()
    op.coil_maps.zero_()
    np.testing.assert_array_equal(to_numpy(op(x)), before)


# --- torch face ------------------------------------------------------------

@pytest.mark.parametrize('multi_coil', (False, True))
def test_forward_batch_equals_per_sample_calls(impl, multi_coil):
    space = make_space(2, 'complex64', impl)
    coils = make_coils(space.shape) if multi_coil else None
    op = MRIForward(space, make_mask(space.shape), coil_maps=coils)
    x = torch.randn(4, *space.shape, dtype=torch.complex64)
    y = op.forward_batch(x)
    expected_shape = (4,) + tuple(op.range.shape)
    assert tuple(y.shape) == expected_shape
    assert y.dtype == torch.complex64
    assert y.device == x.device
    for i in range(4):
        single = torch.as_tensor(to_numpy(op(space.element(x[i].numpy()))))
        torch.testing.assert_close(y[i], single, rtol=1e-5, atol=1e-5)

    back = op.transpose_batch(y)
    assert tuple(back.shape) == (4,) + tuple(space.shape)
    for i in range(4):
        single = torch.as_tensor(
            to_numpy(op.adjoint(op.range.element(y[i].numpy()))))
        torch.testing.assert_close(back[i], single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('real, complex_', ((torch.float32, torch.complex64),
                                            (torch.float64, torch.complex128)))
def test_forward_batch_promotes_real_input(real, complex_):
    space = make_space(2, 'complex64')
    op = MRIForward(space, make_mask(space.shape), make_coils(space.shape))
    x = torch.randn(2, *space.shape, dtype=real)
    y = op.forward_batch(x)
    assert y.dtype == complex_
    torch.testing.assert_close(y, op.forward_batch(x.to(complex_)))


def test_forward_batch_runs_in_input_precision():
    # A complex64 operator fed complex128 data must not round the data or
    # the coil maps to single precision.
    space = make_space(3, 'complex64')
    mask, coils = make_mask(space.shape), make_coils(space.shape)
    op = MRIForward(space, mask, coils)
    x = np.random.default_rng(4).standard_normal((2,) + space.shape) + 0j
    y = op.forward_batch(torch.from_numpy(x))
    assert y.dtype == torch.complex128
    for i in range(2):
        np.testing.assert_allclose(y[i].numpy(),
                                   forward_reference(x[i], mask, coils),
                                   rtol=1e-12, atol=1e-12)


def test_forward_batch_is_differentiable():
    space = odl.uniform_discr([0, 0], [1, 1], (3, 4), dtype='complex128')
    op = MRIForward(space, make_mask((3, 4)), make_coils((3, 4), n_coils=2))
    x = torch.randn(1, 3, 4, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(op.forward_batch, (x,), fast_mode=True)
    y = torch.randn(1, 2, 3, 4, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(op.transpose_batch, (y,), fast_mode=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_forward_batch_on_gpu():
    space = make_space(2, 'complex64')
    op = MRIForward(space, make_mask(space.shape), make_coils(space.shape))
    x = torch.randn(3, *space.shape, dtype=torch.complex64)
    y = op.forward_batch(x.cuda())
    assert y.device.type == 'cuda'
    torch.testing.assert_close(y.cpu(), op.forward_batch(x), rtol=1e-5,
                               atol=1e-5)


# --- unitarity -------------------------------------------------------------

@pytest.mark.parametrize('ndim', (2, 3))
def test_full_mask_single_coil_is_unitary(impl, ndim):
    space = make_space(ndim, 'complex128', impl)
    op = MRIForward(space, np.ones(space.shape))
    x = random_element(space, seed=5)
    assert op(x).norm() == pytest.approx(x.norm(), rel=1e-12)
    np.testing.assert_allclose(to_numpy(op.adjoint(op(x))), to_numpy(x),
                               atol=1e-12)
    y = random_element(op.range, seed=6)
    np.testing.assert_allclose(to_numpy(op(op.adjoint(y))), to_numpy(y),
                               atol=1e-12)


def test_normalised_coils_at_full_sampling_give_identity_normal_operator():
    space = make_space(2)
    coils = make_coils(space.shape)
    coils /= np.sqrt((np.abs(coils) ** 2).sum(axis=0))
    op = MRIForward(space, np.ones(space.shape), coils)
    x = random_element(space, seed=8)
    np.testing.assert_allclose(to_numpy(op.adjoint(op(x))), to_numpy(x),
                               atol=1e-12)
    assert op(x).norm() == pytest.approx(x.norm(), rel=1e-12)


# --- properties ------------------------------------------------------------

def test_range_and_properties(impl):
    space = make_space(2, 'complex64', impl)
    single = MRIForward(space, make_mask(space.shape))
    multi = MRIForward(space, make_mask(space.shape), make_coils(space.shape))

    assert single.range.shape == space.shape
    assert multi.range.shape == (N_COILS,) + space.shape
    for op in (single, multi):
        assert op.domain is space
        assert op.range.dtype_identifier == 'complex64'
        assert op.range.impl == impl
        assert op.range.device == space.device
        assert op.range.weighting == space.weighting
        assert op.mask.dtype == torch.float32
        assert tuple(op.mask.shape) == space.shape

    assert single.coil_maps is None
    assert single.n_coils == 1
    assert multi.n_coils == N_COILS
    assert multi.coil_maps.dtype == torch.complex64
    np.testing.assert_allclose(multi.coil_maps.numpy(), make_coils(space.shape),
                               rtol=1e-6)


def test_repr():
    space = make_space(2)
    mask = np.zeros((1, 9))
    mask[0, 3:6] = 1
    text = repr(MRIForward(space, mask, make_coils(space.shape)))
    assert text.startswith('MRIForward(')
    assert 'shape (1, 9)' in text
    assert '36 of 108 points sampled, acceleration 3.00' in text
    assert '<3 coils>' in text
    assert 'coil_maps=None' in repr(MRIForward(space, mask))


# --- errors ----------------------------------------------------------------

def test_real_space_raises():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4))
    with pytest.raises(ValueError, match='complex_space'):
        MRIForward(space, np.ones((4, 4)))
    MRIForward(space.complex_space, np.ones((4, 4)))


def test_non_space_raises():
    with pytest.raises(TypeError, match='space'):
        MRIForward(np.zeros((4, 4)), np.ones((4, 4)))


@pytest.mark.parametrize('shape', ((4, 5), (5,), (2, 4, 4), (3, 4)))
def test_mask_shape_raises(shape):
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    with pytest.raises(ValueError, match='`mask` of shape'):
        MRIForward(space, np.ones(shape))


def test_complex_mask_raises():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    with pytest.raises(ValueError, match='`mask` must be real'):
        MRIForward(space, np.ones((4, 4), dtype=complex))


@pytest.mark.parametrize('bad', (np.nan, np.inf))
def test_nonfinite_mask_raises(bad):
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    mask = np.ones((4, 4))
    mask[1, 2] = bad
    with pytest.raises(ValueError, match='`mask` contains NaN'):
        MRIForward(space, mask)


@pytest.mark.parametrize('shape', ((4, 4), (2, 4, 5), (2, 1, 4, 4), (0, 4, 4)))
def test_coil_map_shape_raises(shape):
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    with pytest.raises(ValueError, match='coil_maps'):
        MRIForward(space, np.ones((4, 4)), coil_maps=np.ones(shape))


def test_nonfinite_coil_maps_raise():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    coils = np.ones((2, 4, 4), dtype=complex)
    coils[0, 0, 0] = complex(np.nan, 0)
    with pytest.raises(ValueError, match='`coil_maps` contains NaN'):
        MRIForward(space, np.ones((4, 4)), coil_maps=coils)


def test_batch_shape_raises():
    space = odl.uniform_discr([0, 0], [1, 1], (4, 4), dtype='complex64')
    op = MRIForward(space, np.ones((4, 4)), make_coils((4, 4), n_coils=2))
    with pytest.raises(ValueError, match='shape'):
        op.forward_batch(torch.ones(2, 4, 5, dtype=torch.complex64))
    with pytest.raises(ValueError, match='shape'):
        op.transpose_batch(torch.ones(2, 4, 4, dtype=torch.complex64))
