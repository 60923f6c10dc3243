"""The adversarial base recipe and the WGAN: Algorithm 1 of Dukler et al. on the shared
Trainer, with exact resume; hooks for other sources of fakes and extra terms."""

import json

import pytest
import torch

from odl_wasserstein.adversarial import gradient_penalty
from odl_wasserstein.data import ImageDataset
from odl_wasserstein.methods import AdversarialRecipe, WGANRecipe
from odl_wasserstein.nn import DCGANCritic, DCGANGenerator
from odl_wasserstein.training import Trainer, checkpoint
from odl_wasserstein.testing import crashing, without_time


def networks(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return (DCGANGenerator(latent_dim=8, size=16, filters=4).to(dtype),
            DCGANCritic(size=16, filters=4).to(dtype))


def images(n=40, seed=1, dtype=torch.float32):
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def fit(path, recipe, steps, dtype=torch.float32, **kwargs):
    data = ImageDataset(images(dtype=dtype), batch_size=recipe.n_critic * 4, seed=0)
    options = dict(max_steps=steps, output_dir=path, device='cpu', seed=7, log_every=1,
                   checkpoint_every=2, progress=False)
    options.update(kwargs)
    return Trainer(recipe, data, **options)


@pytest.mark.parametrize('penalty, weight', [('two-sided', 10.0), ('wasserstein', 4.0)])
def test_one_step_is_algorithm_1(tmp_path, penalty, weight):
    """The recipe's step equals a hand-written WGAN step with the same random draws."""
    # float64: Adam's first update is about lr * sign(g), so round-off in tiny
    # gradients would show at lr scale in float32.
    generator, critic = networks(dtype=torch.float64)
    recipe = WGANRecipe(generator, critic, n_critic=3, penalty=penalty, penalty_weight=weight,
                        lr=1e-3)
    trainer = fit(tmp_path, recipe, 1, dtype=torch.float64)
    batch = trainer.data.batch(0)
    trainer.fit()

    g_ref, d_ref = networks(dtype=torch.float64)
    d_opt = torch.optim.Adam(d_ref.parameters(), lr=1e-3, betas=(0.5, 0.9))
    g_opt = torch.optim.Adam(g_ref.parameters(), lr=1e-3, betas=(0.5, 0.9))
    torch.manual_seed(7)  # the trainer's seed
    for real in batch.split(4):
        with torch.no_grad():
            fake = g_ref(torch.randn(4, 8, dtype=torch.float64))
        loss = (d_ref(fake).mean() - d_ref(real).mean()
                + gradient_penalty(d_ref, real, fake, penalty=penalty, penalty_weight=weight))
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
    loss = -d_ref(g_ref(torch.randn(4, 8, dtype=torch.float64))).mean()
    g_opt.zero_grad()
    loss.backward()
    g_opt.step()
    for mine, theirs in ((critic, d_ref), (generator, g_ref)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


Crashing = crashing(WGANRecipe)


def test_checkpoints_hold_both_networks_and_optimisers_and_resume_exactly(tmp_path):
    kwargs = dict(n_critic=2, penalty='wasserstein', penalty_weight=4.0, lr=1e-3)
    full_recipe = Crashing(*networks(), **kwargs)
    full = fit(tmp_path / 'full', full_recipe, 5).fit()
    state = checkpoint.load_checkpoint(full.checkpoint)
    assert set(state['modules']) == {'generator', 'critic'}
    assert set(state['optimizers']) == {'generator', 'critic'}
    assert int(state['optimizers']['critic']['state'][0]['step']) == 10
    assert int(state['optimizers']['generator']['state'][0]['step']) == 5
    assert state['optimizers']['critic']['param_groups'][0]['betas'] == (0.5, 0.9)
    assert set(full.history[-1]) >= {'loss', 'critic_loss', 'distance', 'penalty',
                                     'grad_norm/critic', 'grad_norm/generator'}

    with pytest.raises(RuntimeError, match='simulated crash'):
        fit(tmp_path / 'cut', Crashing(*networks(), crash_at=3, **kwargs), 5).fit()
    # A fresh process would rebuild the networks with other weights: resume must
    # overwrite them.
    again = Crashing(*networks(seed=123), **kwargs)
    resumed = fit(tmp_path / 'cut', again, 5).fit(resume=True)
    assert resumed.resumed_from.name == 'step_000002.pt'
    assert without_time(resumed.history) == without_time(full.history)
    for name in ('generator', 'critic'):
        for a, b in zip(again.modules[name].state_dict().values(),
                        full_recipe.modules[name].state_dict().values()):
            assert torch.equal(a, b)


def test_validation_and_figure(tmp_path):
    recipe = WGANRecipe(*networks(), n_critic=1)
    result = fit(tmp_path, recipe, 2, validation_data=[images(16, seed=2)],
                 validate_every=2, figure_every=2).fit()
    entry = result.history[-1]
    assert entry['val/sliced_wasserstein'] > 0
    assert abs(entry['val/distance']) < 10
    assert (tmp_path / 'figures' / 'step_000002.png').read_bytes()[:4] == b'\x89PNG'
    logged = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
    assert logged[-1]['val/sliced_wasserstein'] == entry['val/sliced_wasserstein']


def test_errors(tmp_path):
    generator, critic = networks()
    with pytest.raises(ValueError, match='`penalty` must be one of'):
        WGANRecipe(generator, critic, penalty='gp')
    with pytest.raises(ValueError, match="apply to penalty='wasserstein' only"):
        WGANRecipe(generator, critic, penalty_options={'gamma': 0.0})
    with pytest.raises(ValueError, match='latent_dim'):
        WGANRecipe(torch.nn.Linear(2, 2), critic)
    with pytest.raises(ValueError, match='`lr` must be a finite number > 0'):
        WGANRecipe(generator, critic, lr=0.0)
    recipe = WGANRecipe(generator, critic, n_critic=3)
    with pytest.raises(ValueError, match='n_critic \\* m samples'):
        Trainer(recipe, [images(4)], max_steps=1, output_dir=tmp_path, progress=False).fit()
    with pytest.raises(KeyError, match='sample_key'):
        recipe.real_samples({'image': images(3)})
    assert WGANRecipe(generator, critic, sample_key='image').real_samples(
        {'image': images(3)}).shape == (3, 1, 16, 16)


class MeasuredRecipe(AdversarialRecipe):
    """A toy of the next methods: fakes from measurements, two critics, an L1 term.

    The generator maps measurements ``y`` (the real images blurred) to
    images; critic ``'image'`` compares them with clean images, critic
    ``'data'`` compares their blurred version with the measurements, and
    ``0.5 |A G(y) - y|_1`` is a data-consistency term.
    """

    def __init__(self, generator, image_critic, data_critic, blur, **options):
        super().__init__({'generator': generator, 'image': image_critic,
                          'data': data_critic}, critics=('image', 'data'),
                         auxiliary={'blur': blur}, **options)

    def critic_pairs(self, trainer, part, context):
        with torch.no_grad():
            fake = trainer.module('generator')(part['data'])
            measured = trainer.module('blur')(fake)
        return {'image': (part['clean'], fake), 'data': (part['data'], measured)}

    def generator_fakes(self, trainer, batch):
        part = {key: value[:4] for key, value in batch.items()}
        fake = trainer.module('generator')(part['data'])
        measured = trainer.module('blur')(fake)
        return {'image': fake, 'data': measured}, (measured, part['data'])

    def generator_terms(self, trainer, batch, context):
        measured, data = context
        return {'consistency': 0.5 * (measured - data).abs().mean()}


def measured_networks(dtype=torch.float64):
    torch.manual_seed(3)
    generator = torch.nn.Conv2d(1, 1, 3, padding=1).to(dtype)
    image_critic = DCGANCritic(size=16, filters=4).to(dtype)
    data_critic = DCGANCritic(size=16, filters=4).to(dtype)
    blur = torch.nn.AvgPool2d(3, stride=1, padding=1)
    return generator, image_critic, data_critic, blur


def test_base_recipe_hooks_make_one_step_of_a_measured_method(tmp_path):
    """Two critics, fakes from measurements and an extra term, against a hand-written step."""
    clean = images(24, dtype=torch.float64)
    blur = measured_networks()[3]
    batch = {'clean': clean[:12], 'data': blur(clean[12:])}
    recipe = MeasuredRecipe(*measured_networks(), n_critic=3, lr=1e-3)
    assert sorted(recipe.optimizers()) == ['data', 'generator', 'image']
    result = Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu', seed=5,
                     progress=False).fit()
    entry = result.history[-1]
    assert {'critic_loss', 'distance', 'penalty', 'consistency', 'loss'} <= set(entry)

    generator, image_critic, data_critic, _ = measured_networks()
    optimizers = {name: torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.5, 0.9))
                  for name, module in (('image', image_critic), ('data', data_critic),
                                       ('generator', generator))}
    torch.manual_seed(5)
    for k in range(3):
        part = {key: value[4 * k:4 * k + 4] for key, value in batch.items()}
        with torch.no_grad():
            fake = generator(part['data'])
            measured = blur(fake)
        for name, critic, real, other in (('image', image_critic, part['clean'], fake),
                                          ('data', data_critic, part['data'], measured)):
            loss = (critic(other).mean() - critic(real).mean()
                    + gradient_penalty(critic, real, other, penalty_weight=10.0))
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
    fake = generator(batch['data'][:4])
    measured = blur(fake)
    consistency = 0.5 * (measured - batch['data'][:4]).abs().mean()
    loss = -image_critic(fake).mean() - data_critic(measured).mean() + consistency
    optimizers['generator'].zero_grad()
    loss.backward()
    optimizers['generator'].step()
    assert entry['consistency'] == pytest.approx(consistency.item(), rel=1e-12)
    assert entry['loss'] == pytest.approx(loss.item(), rel=1e-12)
    for mine, reference in ((recipe.modules['generator'], generator),
                            (recipe.modules['image'], image_critic),
                            (recipe.modules['data'], data_critic)):
        for p, q in zip(mine.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
