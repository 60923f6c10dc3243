"""The unpaired-WGAN MRI recipe: hand-written steps of every mode, the schedule, resume."""

import numpy as np
import pytest
import torch

from odl_wasserstein.adversarial import gradient_penalty
from odl_wasserstein.data import birdcage_coil_maps
from odl_wasserstein.fft import fftn_centered, ifftn_centered
from odl_wasserstein.methods import UnpairedMRIRecipe, l1_weight
from odl_wasserstein.nn import UnpairedMRICritic
from odl_wasserstein.training import Trainer
from odl_wasserstein.util import complex_to_channels

SIZE, COILS = 8, 2


class ZeroFilledConv(torch.nn.Module):
    """A convolution of the zero-filled image ``A^H b``: the smallest MRI generator."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1).double()

    def forward(self, measurements, operator):
        return self.conv(complex_to_channels(operator.adjoint(measurements)))


def zero_filled(item):
    """``A^H b = sum_c conj(S_c) F^-1(M b_c)``, written out."""
    coils = ifftn_centered(item['kspace'] * item['mask'], 2) * item['coil_maps'].conj()
    return complex_to_channels(coils.sum(1, keepdim=True))


def critic(seed, channels=2):
    torch.manual_seed(seed)
    return UnpairedMRICritic(in_channels=channels, filters=(2, 2, 2, 2), hidden=3).double()


def measured(n, seed):
    rng = torch.Generator().manual_seed(seed)
    image = torch.randn(n, 1, SIZE, SIZE, 2, generator=rng, dtype=torch.float64)
    image = torch.view_as_complex(image)
    maps = birdcage_coil_maps(SIZE, COILS, dtype=torch.complex128).expand(n, -1, -1, -1)
    mask = (torch.rand(n, 1, SIZE, SIZE, generator=rng, dtype=torch.float64) < 0.4).double()
    kspace = fftn_centered(image * maps, 2) * mask
    return {'kspace': kspace, 'mask': mask, 'coil_maps': maps.clone(),
            'x': complex_to_channels(image)}


def unpaired_batch(n=4, seed=0):
    labels = complex_to_channels(torch.view_as_complex(torch.randn(
        n, 1, SIZE, SIZE, 2, generator=torch.Generator().manual_seed(seed + 100),
        dtype=torch.float64)))
    return {'a': {'x': labels}, 'b': measured(n, seed)}


def adam(module):
    return torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.5, 0.9))


def step(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()


def assert_same(pairs):
    for mine, reference in pairs:
        for p, q in zip(mine.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def part(batch, k):
    return {key: value[k:k + 1] for key, value in batch.items()}


def test_unpaired_step_is_three_critic_updates_then_a_joint_one(tmp_path):
    batch = unpaired_batch()
    recipe = UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), lr=1e-3)
    Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu', seed=7,
            progress=False).fit()

    g, d = ZeroFilledConv(1), critic(2)
    g_opt, d_opt = adam(g), adam(d)
    torch.manual_seed(7)
    labels, items = batch['a']['x'], batch['b']
    for k in range(3):
        real, fake = labels[k:k + 1], g.conv(zero_filled(part(items, k))).detach()
        step(d_opt, d(fake).mean() - d(real).mean() + gradient_penalty(d, real, fake))
    fake = g.conv(zero_filled(part(items, 3)))
    step(g_opt, -d(fake).mean())
    real = labels[3:]
    step(d_opt, d(fake.detach()).mean() - d(real).mean()
         + gradient_penalty(d, real, fake.detach()))
    assert_same(((recipe.modules['generator'], g), (recipe.modules['critic'], d)))


def test_hybrid_step_weighs_wgan_and_l1(tmp_path):
    """At w = 0.25: ``0.75 (-mean D(G b)) + 0.25 mean |G b - x|`` on the last part."""
    batch = measured(2, 3)
    recipe = UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), mode='hybrid', n_critic=2,
                               l1_schedule=(0, 0, 0.25), measured_key=None, label_key='x',
                               lr=1e-3)
    result = Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu', seed=5,
                     progress=False).fit()

    g, d = ZeroFilledConv(1), critic(2)
    g_opt, d_opt = adam(g), adam(d)
    torch.manual_seed(5)
    first, last = part(batch, 0), part(batch, 1)
    fake = g.conv(zero_filled(first)).detach()
    step(d_opt, d(fake).mean() - d(first['x']).mean() + gradient_penalty(d, first['x'], fake))
    fake = g.conv(zero_filled(last))
    l1 = 0.25 * (fake - last['x']).abs().mean()
    loss = 0.75 * -d(fake).mean() + l1
    step(g_opt, loss)
    assert_same(((recipe.modules['generator'], g),))
    assert result.history[-1]['l1'] == pytest.approx(l1.item(), rel=1e-12)
    assert result.history[-1]['loss'] == pytest.approx(loss.item(), rel=1e-12)


def test_paired_step_is_one_l1_update_on_the_whole_batch(tmp_path):
    batch = measured(3, 4)
    recipe = UnpairedMRIRecipe(ZeroFilledConv(1), mode='paired', measured_key=None, lr=1e-3)
    assert sorted(recipe.optimizers()) == ['generator'] and 'critic' not in recipe.modules
    Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu', seed=5,
            progress=False).fit()
    g = ZeroFilledConv(1)
    step(adam(g), (g.conv(zero_filled(batch)) - batch['x']).abs().mean())
    assert_same(((recipe.modules['generator'], g),))


def test_magnitude_critic_sees_magnitudes(tmp_path):
    batch = unpaired_batch(2)
    batch['a']['x'] = torch.linalg.vector_norm(batch['a']['x'], dim=1, keepdim=True)
    seen = []
    d = critic(2, channels=1)
    d.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    recipe = UnpairedMRIRecipe(ZeroFilledConv(1), d, critic_input='magnitude', n_critic=2)
    Trainer(recipe, [batch], max_steps=1, output_dir=tmp_path, device='cpu',
            progress=False).fit()
    assert set(seen) == {1}
    with pytest.raises(ValueError, match="critic_input='magnitude'"):
        Trainer(UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), n_critic=2), [batch],
                max_steps=1, output_dir=tmp_path / 'complex', device='cpu',
                progress=False).fit()


def test_l1_weight_schedule():
    schedule = (500, 1000, 0.99)
    assert [l1_weight(s, schedule) for s in (0, 499, 500, 750, 1000, 10 ** 6)] == \
        pytest.approx([1, 1, 1, 0.995, 0.99, 0.99], abs=1e-15)
    recipe = UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), mode='hybrid')
    assert recipe.adversarial_weight(750) == pytest.approx(0.005)
    assert UnpairedMRIRecipe(ZeroFilledConv(1), critic(2)).adversarial_weight(0) == 1.0


def test_resume_is_exact_through_the_hybrid_schedule(tmp_path):
    data = [measured(2, seed) for seed in range(3)]

    def trainer(folder, crash=None):
        recipe = UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), mode='hybrid', n_critic=2,
                                   l1_schedule=(1, 4, 0.5), measured_key=None,
                                   label_key='x', lr=1e-3)
        if crash is not None:
            original = recipe.training_step

            def training_step(trainer, batch, step):
                if step == crash:
                    raise RuntimeError('simulated crash')
                return original(trainer, batch, step)
            recipe.training_step = training_step
        return Trainer(recipe, data, max_steps=6, output_dir=tmp_path / folder, device='cpu',
                       seed=3, log_every=1, checkpoint_every=2, progress=False)

    full = trainer('full').fit()
    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer('cut', crash=3).fit()
    resumed = trainer('cut').fit(resume=True)
    assert resumed.resumed_from.name == 'step_000002.pt'
    strip = lambda history: [{k: v for k, v in e.items() if k != 'time'} for e in history]
    assert strip(resumed.history) == strip(full.history)
    assert len({e['loss'] for e in full.history}) == 6


def test_errors():
    g = ZeroFilledConv(1)
    with pytest.raises(ValueError, match='mode'):
        UnpairedMRIRecipe(g, critic(2), mode='supervised')
    with pytest.raises(ValueError, match='needs a `critic`'):
        UnpairedMRIRecipe(g)
    with pytest.raises(ValueError, match='critic_input'):
        UnpairedMRIRecipe(g, critic(2), critic_input='phase')
    for schedule, match in [((5, 1, 0.9), 'end'), ((0, 1, 1.5), 'final'), ((1, 2), 'hold')]:
        with pytest.raises(ValueError, match=match):
            UnpairedMRIRecipe(g, critic(2), l1_schedule=schedule)
    with pytest.raises(ValueError, match='exclude each other'):
        UnpairedMRIRecipe(g, critic(2), generator_first=True)
    recipe = UnpairedMRIRecipe(g, critic(2))
    with pytest.raises(ValueError, match='multiple of n_critic'):
        recipe.critic_batches(unpaired_batch(3))
    with pytest.raises(KeyError, match='measured'):
        recipe.measured({'a': {}})


def test_wwgan_penalty_is_an_option(tmp_path):
    """The Wasserstein ground-metric penalty (WWGAN) replaces WGAN-GP's in the same step."""
    batch = unpaired_batch(2)
    result = {}
    for penalty in ('two-sided', 'wasserstein'):
        recipe = UnpairedMRIRecipe(ZeroFilledConv(1), critic(2), n_critic=2, penalty=penalty)
        result[penalty] = Trainer(recipe, [batch], max_steps=1,
                                  output_dir=tmp_path / penalty, device='cpu', seed=1,
                                  log_every=1, progress=False).fit().history[-1]
    assert np.isfinite(result['wasserstein']['penalty'])
    assert result['wasserstein']['penalty'] != result['two-sided']['penalty']
    assert np.isfinite(result['wasserstein']['loss'])
