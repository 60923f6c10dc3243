"""Decoders, encoders, autoencoders and VAEs: shapes, errors, no coupling of the
samples of a batch, and the reparameterisation of the VAE."""

import math

import numpy as np
import pytest
import torch

from odl_wasserstein.nn import (
    Autoencoder, ConvDecoder, ConvEncoder, DCGANGenerator, VAEOutput, VariationalAutoencoder)


@pytest.mark.parametrize('shape, depth', [((56, 56), 2), ((28, 28), 2), ((28, 28), 1),
                                          ((32, 32), 3), ((64, 64), 4), ((16, 24), 3),
                                          ((8, 8), 0)])
def test_shapes(shape, depth):
    torch.manual_seed(0)
    x = torch.rand(3, 2, *shape)
    decoder = ConvDecoder(6, shape=shape, out_channels=2, filters=4, n_up=depth)
    assert decoder(torch.zeros(3, 6)).shape == (3, 2, *shape)
    assert decoder.image_shape == (2, *shape) and decoder.latent_dim == 6
    assert ConvEncoder(5, shape=shape, in_channels=2, filters=4, n_down=depth)(x).shape == (3, 5)
    ae = Autoencoder(6, shape=shape, channels=2, filters=4, depth=depth)
    assert ae(x).shape == x.shape and ae.encode(x).shape == (3, 6)
    assert (ae.latent_dim, ae.image_shape) == (6, (2, *shape))
    out = VariationalAutoencoder(6, shape=shape, channels=2, filters=4, depth=depth)(x)
    assert isinstance(out, VAEOutput)
    assert out.reconstruction.shape == out.logits.shape == x.shape
    assert out.mean.shape == out.logvar.shape == out.z.shape == (3, 6)


def test_decoder_layers_and_outputs():
    decoder = ConvDecoder(12, shape=(56, 56), filters=8, n_up=2)
    linear = decoder.layers[0]
    # filters * 2**n_up channels on a (56 / 4)^2 map after the linear layer.
    assert linear.out_features == 32 * 14 * 14
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
                   for m in decoder.modules())
    z = torch.randn(4, 12, generator=torch.Generator().manual_seed(1))
    logits = decoder.logits(z)
    torch.testing.assert_close(decoder(z), torch.sigmoid(logits), rtol=0, atol=0)
    tanh = ConvDecoder(12, shape=(56, 56), filters=8, output='tanh')
    tanh.load_state_dict(decoder.state_dict())
    torch.testing.assert_close(tanh(z), torch.tanh(logits), rtol=0, atol=0)
    assert float(tanh(z).detach().min()) < 0
    linear_out = ConvDecoder(12, shape=(56, 56), filters=8, output=None)
    linear_out.load_state_dict(decoder.state_dict())
    torch.testing.assert_close(linear_out(z), logits, rtol=0, atol=0)


def test_sample_is_seeded_standard_normal():
    decoder = ConvDecoder(5, shape=(8, 8), filters=2, n_up=1).double()
    a = decoder.sample(3, generator=4)
    z = torch.randn(3, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, decoder(z), rtol=0, atol=0)
    assert not torch.equal(a, decoder.sample(3, generator=5))


def test_dropout_is_train_only():
    torch.manual_seed(0)
    decoder = ConvDecoder(5, shape=(8, 8), filters=8, n_up=1, dropout=0.2)
    z = torch.randn(2, 5)
    assert not torch.equal(decoder(z), decoder(z))
    decoder.eval()
    assert torch.equal(decoder(z), decoder(z))


def _coupling(generator, z):
    """Largest gradient of sample 0's output with respect to the other latents."""
    z = z.clone().requires_grad_(True)
    generator(z)[0].sum().backward()
    return float(z.grad[1:].abs().max())


def test_samples_of_a_batch_do_not_interact():
    torch.manual_seed(0)
    decoder = ConvDecoder(8, shape=(16, 16), filters=4, n_up=2).double()
    z = torch.randn(5, 8, dtype=torch.float64)
    assert decoder.training
    torch.testing.assert_close(decoder(z)[:1], decoder(z[:1]), rtol=1e-12, atol=1e-14)
    assert _coupling(decoder, z) == 0.0
    encoder = ConvEncoder(3, shape=(16, 16), filters=4).double()
    x = torch.rand(5, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(encoder(x)[:1], encoder(x[:1]), rtol=1e-12, atol=1e-14)
    # The check can fail: the batch-normalised DCGAN generator couples samples.
    assert _coupling(DCGANGenerator(latent_dim=8, size=16, filters=4).double(), z) > 1e-4


def test_errors():
    with pytest.raises(ValueError, match=r'divisible by 2\*\*2 = 4 .* got \(30, 28\)'):
        ConvDecoder(8, shape=(30, 28), n_up=2)
    with pytest.raises(ValueError, match=r'divisible by 2\*\*3 = 8'):
        ConvEncoder(8, shape=(28, 28), n_down=3)
    with pytest.raises(ValueError, match=r'divisible by 2\*\*3'):
        Autoencoder(8, shape=(28, 28), depth=3)
    with pytest.raises(TypeError, match=r'`shape` must be a pair \(H, W\)'):
        ConvDecoder(8, shape=28)
    with pytest.raises(TypeError, match=r'`shape\[1\]` must be an int'):
        ConvDecoder(8, shape=(28, 28.0))
    with pytest.raises(ValueError, match='`latent_dim` must be an int >= 1'):
        ConvDecoder(0)
    with pytest.raises(ValueError, match='`output` must be one of'):
        ConvDecoder(8, output='relu')
    with pytest.raises(ValueError, match='`dropout` must be a finite number >= 0'):
        ConvDecoder(8, dropout=1.0)
    with pytest.raises(ValueError, match='`likelihood` must be one of'):
        VariationalAutoencoder(8, likelihood='poisson')
    with pytest.raises(ValueError, match="`std` applies to likelihood='gaussian' only"):
        VariationalAutoencoder(8, std=0.1)
    with pytest.raises(ValueError, match='`std` must be a finite number > 0'):
        VariationalAutoencoder(8, likelihood='gaussian', std=-1.0)


def test_input_errors():
    decoder = ConvDecoder(8, shape=(8, 8), filters=2, n_up=1)
    with pytest.raises(TypeError, match='ConvDecoder expects a torch.Tensor, got ndarray'):
        decoder(np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r'expects input of shape \(N, 8\), got \(2, 7\)'):
        decoder(torch.zeros(2, 7))
    with pytest.raises(ValueError, match=r'shape \(N, 8\), got \(8,\)'):
        decoder.logits(torch.zeros(8))
    encoder = ConvEncoder(3, shape=(8, 8), filters=2, n_down=1)
    with pytest.raises(ValueError, match=r'ConvEncoder expects input of shape \(N, 1, 8, 8\), '
                                         r'got \(2, 1, 8, 7\)'):
        encoder(torch.zeros(2, 1, 8, 7))
    with pytest.raises(ValueError, match=r'\(N, 1, 8, 8\), got \(2, 3, 8, 8\)'):
        encoder(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r'\(N, 1, 8, 8\), got \(1, 8, 8\)'):
        VariationalAutoencoder(2, shape=(8, 8), filters=2, depth=1)(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match='`n` must be an int >= 1'):
        decoder.sample(0)


def _fixed_posterior(mean, logvar, samples):
    """A VAE whose encoder maps every image to ``(mean, logvar)``, and its input."""
    vae = VariationalAutoencoder(len(mean), shape=(4, 4), filters=2, depth=1).double()
    last = vae.encoder.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.cat([mean, logvar]))
    return vae, torch.rand(samples, 1, 4, 4, dtype=torch.float64)


def test_vae_eval_mode_decodes_the_mean():
    torch.manual_seed(0)
    vae = VariationalAutoencoder(3, shape=(8, 8), filters=2, depth=1).double().eval()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    a, b = vae(x), vae(x)
    mean, logvar = vae.encode(x)
    assert torch.equal(a.z, mean) and torch.equal(a.logvar, logvar)
    assert torch.equal(a.reconstruction, b.reconstruction)
    torch.testing.assert_close(a.reconstruction, vae.decoder(mean), rtol=0, atol=0)
    assert a.log_std is None


def test_vae_reparameterisation_uses_the_global_state():
    mean = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, -2.0, 1.0], dtype=torch.float64)
    vae, x = _fixed_posterior(mean, logvar, 4)
    torch.manual_seed(3)
    out = vae(x)
    torch.manual_seed(3)
    eps = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(out.z, mean + torch.exp(logvar / 2) * eps, rtol=1e-15, atol=0)
    torch.testing.assert_close(out.reconstruction, vae.decoder(out.z), rtol=0, atol=0)


def test_vae_posterior_samples_have_the_posterior_moments():
    mean = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, -2.0, 1.0, -6.0], dtype=torch.float64)
    n = 20000
    vae, x = _fixed_posterior(mean, logvar, n)
    torch.manual_seed(0)
    with torch.no_grad():
        z = vae(x).z
    std = torch.exp(logvar / 2)
    # Standard errors: std / sqrt(n) for the mean, about std / sqrt(2 n) for the std.
    assert float(((z.mean(0) - mean) / std).abs().max()) < 5 / math.sqrt(n)
    assert float((z.std(0) / std - 1).abs().max()) < 5 / math.sqrt(2 * n)


def test_gaussian_vae_std():
    learned = VariationalAutoencoder(2, shape=(4, 4), filters=2, depth=1, likelihood='gaussian')
    assert isinstance(learned.log_std, torch.nn.Parameter)
    assert float(learned.log_std.detach()) == 0.0
    assert any(p is learned.log_std for p in learned.parameters())
    fixed = VariationalAutoencoder(2, shape=(4, 4), filters=2, depth=1, likelihood='gaussian',
                                   std=0.25).double()
    assert 'log_std' in dict(fixed.named_buffers()) and fixed.log_std.dtype == torch.float64
    out = fixed(torch.rand(2, 1, 4, 4, dtype=torch.float64))
    assert float(out.log_std.exp()) == pytest.approx(0.25, rel=1e-7)
