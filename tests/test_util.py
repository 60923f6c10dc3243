"""Tests of the shared helpers of `odl_wasserstein.util`."""

import pytest
import torch

from odl_wasserstein.util import (
    as_generator, channels_to_complex, check_choice, check_int, check_real, complex_to_channels)


@pytest.mark.parametrize('dtype', [torch.complex64, torch.complex128])
def test_complex_channels_round_trip_and_gradients(dtype):
    x = torch.randn(3, 2, 5, 4, dtype=dtype, requires_grad=True)
    channels = complex_to_channels(x)
    assert channels.shape == (3, 4, 5, 4) and channels.dtype == x.real.dtype
    torch.testing.assert_close(channels[:, 2], x.detach()[:, 1].real)
    torch.testing.assert_close(channels[:, 3], x.detach()[:, 1].imag)
    assert torch.equal(channels_to_complex(channels), x)
    # The adjoint pairing: <channels(x), y> = Re <x, complex(y)>.
    y = torch.randn(3, 4, 5, 4, dtype=channels.dtype)
    (grad,) = torch.autograd.grad((channels * y).sum(), x)
    torch.testing.assert_close(grad, channels_to_complex(y))


def test_complex_channels_errors():
    with pytest.raises(TypeError, match='complex tensor'):
        complex_to_channels(torch.ones(2, 1, 3))
    with pytest.raises(ValueError, match='even number of channels'):
        channels_to_complex(torch.ones(2, 3, 4))
    with pytest.raises(TypeError, match='real floating-point'):
        channels_to_complex(torch.ones(2, 2, 4, dtype=torch.complex64))


def test_validators_raise_type_and_value_errors_naming_the_argument():
    assert check_int(3, 'n', minimum=1) == 3
    for bad, error in ((2.0, TypeError), (True, TypeError), (0, ValueError)):
        with pytest.raises(error, match='`n` must be an int >= 1'):
            check_int(bad, 'n', minimum=1)
    assert check_real(2, 'x', maximum=2) == 2.0
    for bad, error in (('1', TypeError), (None, TypeError), (float('nan'), ValueError),
                       (float('inf'), ValueError), (3.0, ValueError)):
        with pytest.raises(error, match='`x` must be a finite number'):
            check_real(bad, 'x', maximum=2)
    assert check_real(float('inf'), 'x', allow_inf=True) == float('inf')
    assert check_real(torch.tensor(0.5), 'x') == 0.5
    with pytest.raises(ValueError, match=r"`mode` must be one of \('a', 'b'\), got 'c'"):
        check_choice('c', 'mode', ('a', 'b'))
    with pytest.raises(ValueError, match='`mode` must be one of'):
        check_choice(['unhashable'], 'mode', {'a': 1})
    generator = torch.Generator().manual_seed(1)
    assert as_generator(generator) is generator
    with pytest.raises(TypeError, match='`generator` must be a torch.Generator'):
        as_generator('1')
