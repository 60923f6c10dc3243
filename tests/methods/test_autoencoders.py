"""The negative ELBO against torch.distributions and finite differences, and the
autoencoder recipe on the Trainer: learning, a hand-written step, exact resume."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from odl_wasserstein.data import ImageDataset
from odl_wasserstein.methods import AutoencoderRecipe, negative_elbo
from odl_wasserstein.metrics import psnr
from odl_wasserstein.nn import Autoencoder, VAEOutput, VariationalAutoencoder
from odl_wasserstein.training import Trainer
from odl_wasserstein.testing import crashing, without_time

F64 = torch.float64


def vae_output(n=3, latent=4, shape=(1, 3, 2), seed=0, scale=3.0, log_std=None):
    """A VAEOutput of random values (float64)."""
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, *shape, generator=g, dtype=F64)
    mean = torch.randn(n, latent, generator=g, dtype=F64)
    logvar = torch.randn(n, latent, generator=g, dtype=F64)
    return VAEOutput(torch.sigmoid(logits), mean, logvar, mean, logits,
                     None if log_std is None else torch.tensor(log_std, dtype=F64))


def test_kl_is_the_closed_form_of_torch_distributions():
    out = vae_output(seed=1)
    target = torch.zeros_like(out.reconstruction)
    q = Normal(out.mean, torch.exp(out.logvar / 2))
    expected = kl_divergence(q, Normal(0.0, 1.0)).sum(1).mean()
    terms = negative_elbo(out, target, beta=0.3)
    torch.testing.assert_close(terms.kl, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(terms.loss, terms.reconstruction + 0.3 * terms.kl,
                               rtol=1e-14, atol=0)


def test_bernoulli_term_is_the_log_likelihood():
    out = vae_output(seed=2)
    g = torch.Generator().manual_seed(3)
    binary = (torch.rand(out.logits.shape, generator=g) > 0.5).to(F64)
    log_p = Bernoulli(logits=out.logits).log_prob(binary).flatten(1).sum(1).mean()
    torch.testing.assert_close(negative_elbo(out, binary).reconstruction, -log_p,
                               rtol=1e-12, atol=0)
    # Soft targets in [0, 1] (the shapes images are 0 or 0.5): the cross-entropy.
    soft = torch.rand(out.logits.shape, generator=g, dtype=F64)
    p = torch.sigmoid(out.logits)
    naive = -(soft * p.log() + (1 - soft) * (1 - p).log()).flatten(1).sum(1).mean()
    torch.testing.assert_close(negative_elbo(out, soft).reconstruction, naive,
                               rtol=1e-10, atol=0)


def test_bernoulli_term_is_finite_where_the_sigmoid_saturates():
    # log(sigmoid(-200)) is -inf in float32 (and clamped to -100 by BCELoss).
    logits = torch.full((2, 1, 2, 2), -200.0)
    out = VAEOutput(torch.sigmoid(logits), torch.zeros(2, 1), torch.zeros(2, 1),
                    torch.zeros(2, 1), logits)
    terms = negative_elbo(out, torch.ones(2, 1, 2, 2))
    assert float(terms.reconstruction) == pytest.approx(4 * 200.0, rel=1e-6)


def test_gaussian_term_is_the_log_likelihood():
    out = vae_output(seed=4, log_std=-0.7)
    target = torch.rand(out.logits.shape, generator=torch.Generator().manual_seed(5),
                        dtype=F64)
    log_p = Normal(out.reconstruction, math.exp(-0.7)).log_prob(target).flatten(1).sum(1)
    terms = negative_elbo(out, target, likelihood='gaussian')
    torch.testing.assert_close(terms.reconstruction, -log_p.mean(), rtol=1e-12, atol=0)


def test_gradient_matches_finite_differences():
    base = vae_output(n=2, latent=2, shape=(1, 2, 2), seed=6, scale=1.0, log_std=0.2)
    target = torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(7), dtype=F64)
    names = ('logits', 'mean', 'logvar', 'log_std')

    def value(tensors, likelihood):
        logits, mean, logvar, log_std = tensors
        out = VAEOutput(torch.sigmoid(logits), mean, logvar, mean, logits, log_std)
        return negative_elbo(out, target, likelihood, beta=0.7).loss

    for likelihood in ('bernoulli', 'gaussian'):
        tensors = [getattr(base, name).clone().requires_grad_(True) for name in names]
        grads = torch.autograd.grad(value(tensors, likelihood), tensors, allow_unused=True)
        for k, (tensor, grad) in enumerate(zip(tensors, grads)):
            grad = torch.zeros_like(tensor) if grad is None else grad
            numeric = torch.zeros_like(tensor).reshape(-1)
            for i in range(tensor.numel()):
                step = torch.zeros(tensor.numel(), dtype=F64)
                step[i] = 1e-6
                plus, minus = ([t.detach() for t in tensors] for _ in range(2))
                plus[k] = plus[k] + step.reshape(tensor.shape)
                minus[k] = minus[k] - step.reshape(tensor.shape)
                numeric[i] = (value(plus, likelihood) - value(minus, likelihood)) / 2e-6
            torch.testing.assert_close(grad.reshape(-1), numeric, rtol=1e-7, atol=1e-8,
                                       msg=f'{likelihood}: d/d{names[k]}')
        if likelihood == 'gaussian':
            assert float(grads[3].abs()) > 0.1


def test_negative_elbo_errors():
    out = vae_output()
    target = torch.zeros_like(out.reconstruction)
    with pytest.raises(TypeError, match='VAEOutput'):
        negative_elbo(tuple(out), target)
    with pytest.raises(ValueError, match=r"reconstruction's shape \(3, 1, 3, 2\), got \(3, 6\)"):
        negative_elbo(out, target.reshape(3, 6))
    with pytest.raises(ValueError, match=r'Bernoulli targets must lie in \[0, 1\]'):
        negative_elbo(out, target - 0.5)
    with pytest.raises(ValueError, match='`beta` must be a finite number >= 0'):
        negative_elbo(out, target, beta=-1.0)
    with pytest.raises(ValueError, match="needs `output.log_std`"):
        negative_elbo(out, target, likelihood='gaussian')
    with pytest.raises(ValueError, match='`likelihood` must be one of'):
        negative_elbo(out, target, likelihood='laplace')


# -- the recipe -----------------------------------------------------------------


def rectangles(n=64, side=8, seed=1, dtype=torch.float32):
    """Binary images of one axis-aligned rectangle each, ``(n, 1, side, side)``."""
    g = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, side - 5, (n, 2), generator=g)
    extent = torch.randint(3, 6, (n, 2), generator=g)
    i = torch.arange(side)
    rows = (i >= corner[:, :1]) & (i < corner[:, :1] + extent[:, :1])
    cols = (i >= corner[:, 1:]) & (i < corner[:, 1:] + extent[:, 1:])
    return (rows[:, :, None] & cols[:, None, :]).to(dtype)[:, None]


def trainer(path, recipe, steps, dtype=torch.float32, **kwargs):
    options = dict(max_steps=steps, output_dir=path, device='cpu', seed=7, log_every=1,
                   checkpoint_every=None, progress=False)
    options.update(kwargs)
    return Trainer(recipe, ImageDataset(rectangles(dtype=dtype), batch_size=16, seed=0),
                   **options)


def vae(seed=0, dtype=torch.float32, **kwargs):
    torch.manual_seed(seed)
    return VariationalAutoencoder(4, shape=(8, 8), filters=8, **kwargs).to(dtype)


def last_mean(history, key, n=5):
    return sum(entry[key] for entry in history[-n:]) / n


def test_autoencoder_learns(tmp_path):
    torch.manual_seed(0)
    recipe = AutoencoderRecipe(Autoencoder(8, shape=(8, 8), filters=8), lr=1e-2)
    history = trainer(tmp_path, recipe, 60).fit().history
    images = rectangles()
    best_constant = float((images - images.mean(0)).square().mean())  # about 0.12
    assert history[0]['loss'] > 0.2
    assert last_mean(history, 'loss') < history[0]['loss'] / 4
    assert last_mean(history, 'loss') < best_constant / 2


def test_vae_learns(tmp_path):
    recipe = AutoencoderRecipe(vae(), lr=1e-2)
    history = trainer(tmp_path, recipe, 60).fit().history
    assert set(history[-1]) >= {'loss', 'reconstruction', 'kl', 'grad_norm/model'}
    images = rectangles()
    p = images.mean(0).clamp(1e-6, 1 - 1e-6)
    # The negative log-likelihood of the best pixel-wise Bernoulli, about 23 nats.
    best_constant = float(-(images * p.log() + (1 - images) * (1 - p).log()).sum() / len(images))
    assert last_mean(history, 'loss') < history[0]['loss'] / 2
    assert last_mean(history, 'reconstruction') < 0.8 * best_constant
    assert 0 < last_mean(history, 'kl') < 20


@pytest.mark.parametrize('likelihood', ['bernoulli', 'gaussian'])
def test_one_step_is_a_hand_written_step(tmp_path, likelihood):
    model = vae(dtype=F64, likelihood=likelihood)
    train = trainer(tmp_path, AutoencoderRecipe(model, beta=0.5), 1, dtype=F64)
    x = train.data.batch(0)
    train.fit()

    ref = vae(dtype=F64, likelihood=likelihood)
    optimizer = torch.optim.Adam(ref.parameters(), lr=1e-3, betas=(0.9, 0.999))
    torch.manual_seed(7)  # the trainer's seed
    mean, logvar = ref.encoder(x).chunk(2, dim=1)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, dtype=F64)
    logits = ref.decoder.layers(z)
    if likelihood == 'bernoulli':
        nll = (torch.nn.functional.softplus(logits) - x * logits).sum((1, 2, 3))
    else:
        sigma = ref.log_std.exp()
        nll = ((x - torch.sigmoid(logits)) ** 2).sum((1, 2, 3)) / (2 * sigma ** 2) \
            + 64 * (ref.log_std + 0.5 * math.log(2 * math.pi))
    kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(1)
    optimizer.zero_grad()
    (nll + 0.5 * kl).mean().backward()
    optimizer.step()
    for (name, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


Crashing = crashing(AutoencoderRecipe)


def test_vae_resumes_exactly(tmp_path):
    full_recipe = Crashing(vae())
    full = trainer(tmp_path / 'full', full_recipe, 6, checkpoint_every=3).fit()
    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer(tmp_path / 'cut', Crashing(vae(), crash_at=3), 6, checkpoint_every=3).fit()
    again = Crashing(vae(seed=123))  # other weights: resume must overwrite them
    resumed = trainer(tmp_path / 'cut', again, 6, checkpoint_every=3).fit(resume=True)
    assert resumed.resumed_from.name == 'step_000003.pt'
    assert without_time(resumed.history) == without_time(full.history)
    for a, b in zip(again.modules['model'].state_dict().values(),
                    full_recipe.modules['model'].state_dict().values()):
        assert torch.equal(a, b)
    # Without the saved random state the eps draws, hence the weights, would differ.
    other = trainer(tmp_path / 'other', Crashing(vae()), 6, checkpoint_every=3, seed=8).fit()
    assert without_time(other.history) != without_time(full.history)


def test_validation_and_figure(tmp_path):
    recipe = AutoencoderRecipe(vae(), lr=1e-2)
    held_out = rectangles(16, seed=2)
    result = trainer(tmp_path, recipe, 2, validation_data=[held_out], validate_every=2,
                     figure_every=2).fit()
    entry = result.history[-1]
    model = recipe.modules['model'].eval()
    with torch.no_grad():
        out = model(held_out)
        expected_psnr = psnr(out.reconstruction, held_out, data_range=1.0).mean()
        expected_loss = negative_elbo(out, held_out).loss
    # Eval mode decodes the posterior mean: validation is deterministic.
    assert entry['val/psnr'] == pytest.approx(float(expected_psnr), rel=1e-6)
    assert entry['val/loss'] == pytest.approx(float(expected_loss), rel=1e-6)
    assert {'val/reconstruction', 'val/kl'} <= set(entry)
    assert (tmp_path / 'figures' / 'step_000002.png').read_bytes()[:4] == b'\x89PNG'


def test_autoencoder_losses_and_batches():
    torch.manual_seed(0)
    model = Autoencoder(8, shape=(8, 8), filters=4).double()
    x = rectangles(4, dtype=F64) * 0.8 + 0.1
    recipe = AutoencoderRecipe(model, loss='bce')
    terms, reconstruction = recipe.loss_terms(model, x)
    p = model(x)
    naive = -(x * p.log() + (1 - x) * (1 - p).log()).mean()
    torch.testing.assert_close(terms['loss'], naive, rtol=1e-12, atol=0)
    torch.testing.assert_close(reconstruction, p, rtol=1e-14, atol=0)
    mse, _ = AutoencoderRecipe(model).loss_terms(model, x)
    torch.testing.assert_close(mse['loss'], ((p - x) ** 2).mean(), rtol=1e-14, atol=0)
    assert recipe.unpack({'image': x})[0] is x and recipe.unpack(x)[1] is x
    assert AutoencoderRecipe(model, image_key='target').unpack({'target': x})[0] is x


def test_recipe_errors():
    autoencoder, variational = Autoencoder(8, shape=(8, 8), filters=4), vae()
    with pytest.raises(ValueError, match="VariationalAutoencoder trains on loss='elbo'"):
        AutoencoderRecipe(variational, loss='mse')
    with pytest.raises(ValueError, match="other models on 'mse' or 'bce'"):
        AutoencoderRecipe(autoencoder, loss='elbo')
    with pytest.raises(ValueError, match='`loss` must be one of'):
        AutoencoderRecipe(autoencoder, loss='l1')
    with pytest.raises(ValueError, match="loss='bce' needs an Autoencoder with output='sigmoid'"):
        AutoencoderRecipe(Autoencoder(8, shape=(8, 8), filters=4, output='tanh'), loss='bce')
    with pytest.raises(TypeError, match='`model` must be a torch.nn.Module'):
        AutoencoderRecipe(lambda x: x)
    with pytest.raises(ValueError, match='`lr` must be a finite number > 0'):
        AutoencoderRecipe(variational, lr=0.0)
    recipe = AutoencoderRecipe(variational)
    with pytest.raises(KeyError, match="no 'image' entry.*set `image_key`"):
        recipe.unpack({'data': torch.zeros(1)})
    with pytest.raises(TypeError, match=r'image tensor \(N, C, H, W\)'):
        recipe.unpack((torch.zeros(1), torch.zeros(1)))
