"""Fixtures shared by the test modules."""

import pytest

IMPLS = ('numpy', 'pytorch')
REAL_DTYPES = ('float32', 'float64')


@pytest.fixture(params=IMPLS)
def impl(request):
    """ODL array backend of the spaces under test."""
    return request.param


@pytest.fixture(params=REAL_DTYPES)
def real_dtype(request):
    """Floating-point precision of the spaces under test."""
    return request.param
