"""`snr` against NumPy re-implementations of Lei et al.'s two definitions."""

import numpy as np
import pytest
import torch

from odl_wasserstein.metrics import psnr, snr


def _complex_pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    reference = (rng.random(shape) + 0.1) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    noise = 0.05 * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    return reference + noise, reference


def _paper_numpy(x, reference):
    """The paper's reading: 20 log10(mean |x*| / mean |x - x*|) on magnitudes."""
    x, reference = np.abs(x), np.abs(reference)
    return 20 * np.log10(np.abs(reference).mean(axis=(-2, -1))
                         / np.abs(x - reference).mean(axis=(-2, -1)))


def _code_numpy(x, reference):
    """wgancs_train.py: 10 log10(sum s^2 / sum |s - G|^2) on [20:-20, 24:-24]."""
    signal = np.abs(reference)[..., 20:-20, 24:-24]
    output = np.abs(x)[..., 20:-20, 24:-24]
    return 10 * np.log10((signal ** 2).sum(axis=(-2, -1))
                         / ((signal - output) ** 2).sum(axis=(-2, -1)))


def test_paper_definition_matches_numpy_on_complex_batches():
    x, reference = _complex_pair((3, 2, 16, 20))
    ours = snr(x, reference)
    assert ours.shape == (3, 2)
    np.testing.assert_allclose(ours.numpy(), _paper_numpy(x, reference), rtol=1e-12)
    # Each image of the batch on its own gives the same value.
    assert float(snr(x[1, 0], reference[1, 0])) == pytest.approx(float(ours[1, 0]), rel=1e-12)


def test_code_definition_crops_like_the_authors_code():
    x, reference = _complex_pair((2, 256, 320), seed=1)
    ours = snr(torch.from_numpy(x), torch.from_numpy(reference), 'code')
    np.testing.assert_allclose(ours.numpy(), _code_numpy(x, reference), rtol=1e-12)
    # The crop matters: the border carries the largest errors here.
    x[:, :20] += 1.0
    np.testing.assert_allclose(snr(x, reference, 'code').numpy(),
                               _code_numpy(x, reference), rtol=1e-12)
    assert bool((snr(x, reference, 'code', crop=0) < ours - 5).all())


def test_code_crop_is_scaled_and_paper_table_crop_is_its_transpose():
    x, reference = _complex_pair((64, 80), seed=2)
    # 20 * 64 / 256 = 5 rows and 24 * 80 / 320 = 6 columns per side.
    expected = snr(x[5:-5, 6:-6], reference[5:-5, 6:-6], 'code', crop=0)
    assert float(snr(x, reference, 'code')) == pytest.approx(float(expected), rel=1e-12)
    # Table II: the centre 272 x 216 of 320 x 256 images, crop=(24, 20).
    x, reference = _complex_pair((256, 320), seed=3)
    transposed = snr(x.T, reference.T, 'code', crop=(24, 20))
    assert float(transposed) == pytest.approx(float(snr(x, reference, 'code')), rel=1e-12)
    assert float(snr(x, reference, 'paper', crop=(20, 24))) == pytest.approx(
        float(_paper_numpy(x[20:-20, 24:-24], reference[20:-20, 24:-24])), rel=1e-12)


def test_complex_images_are_compared_by_magnitude():
    x, reference = _complex_pair((2, 12, 12), seed=4)
    phase = np.exp(1j * np.linspace(0, 3, 144).reshape(12, 12))
    for definition in ('paper', 'code'):
        magnitudes = snr(np.abs(x), np.abs(reference), definition)
        torch.testing.assert_close(snr(x * phase, reference, definition), magnitudes,
                                   rtol=1e-12, atol=0)


def test_paper_snr_decreases_with_the_l1_error():
    """Lower mean |error| gives a higher paper SNR, exactly as -20 log10."""
    rng = np.random.default_rng(5)
    reference = rng.random((32, 32)) + 0.5
    direction = rng.standard_normal((32, 32))
    scales = np.array([0.01, 0.03, 0.1, 0.3, 1.0])
    outputs = np.stack([reference + s * direction for s in scales])
    values = snr(outputs, np.broadcast_to(reference, outputs.shape)).numpy()
    assert np.all(np.diff(values) < 0)
    l1 = np.abs(outputs - reference).mean(axis=(-2, -1))
    np.testing.assert_allclose(values, 20 * np.log10(reference.mean() / l1), rtol=1e-12)


def test_paper_snr_sees_only_the_l1_error_code_snr_the_l2_error():
    reference = np.ones((2, 8, 8))
    spread, peaked = reference.copy(), reference.copy()
    spread[0] += 0.1            # |error| 0.1 everywhere: l1 6.4, l2^2 0.64
    peaked[0, :4, :4] += 0.4    # |error| 0.4 on 16 pixels: l1 6.4, l2^2 2.56
    paper = snr(np.stack([spread[0], peaked[0]]), reference)
    code = snr(np.stack([spread[0], peaked[0]]), reference, 'code', crop=0)
    assert float(paper[0]) == pytest.approx(float(paper[1]), rel=1e-12)
    assert float(paper[0]) == pytest.approx(20.0, rel=1e-12)
    assert float(code[0] - code[1]) == pytest.approx(10 * np.log10(4), rel=1e-12)


def test_identical_images_give_inf_like_psnr():
    reference = torch.rand(2, 16, 16) + 0.1
    for definition in ('paper', 'code'):
        assert torch.isinf(snr(reference, reference, definition)).all()
    assert torch.isinf(psnr(reference, reference)).all()
    # Differences only outside the crop are not seen either.
    x = reference.clone()
    x[:, 0] += 1
    assert torch.isinf(snr(x, reference, 'code')).all()


def test_errors():
    ones = np.ones((8, 8))
    with pytest.raises(ValueError, match='same shape'):
        snr(np.ones((8, 8)), np.ones((8, 9)))
    with pytest.raises(ValueError, match='`x` contains NaN'):
        snr(np.full((8, 8), np.nan), ones)
    with pytest.raises(ValueError, match='`reference` contains NaN'):
        snr(ones, np.full((8, 8), np.nan + 1j))
    with pytest.raises(ValueError, match='no signal'):
        snr(ones, np.zeros((8, 8)))
    with pytest.raises(ValueError, match='no signal'):
        reference = np.zeros((8, 8))
        reference[0] = 1
        snr(ones, reference, 'code', crop=1)
    with pytest.raises(ValueError, match='`definition`'):
        snr(ones, ones, definition='pixelwise')
    with pytest.raises(ValueError, match='leaves nothing'):
        snr(ones, ones, crop=(4, 0))
    with pytest.raises(ValueError, match='`crop` must be an int >= 0'):
        snr(ones, ones, crop=-1)
    with pytest.raises(TypeError, match='`crop`'):
        snr(ones, ones, crop=1.5)
    with pytest.raises(ValueError, match='pair'):
        snr(ones, ones, crop=(1, 2, 3))
    with pytest.raises(ValueError, match='at least 2 axes'):
        snr(np.ones(8), np.ones(8))
