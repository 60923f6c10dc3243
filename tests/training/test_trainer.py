"""The Trainer loop on one process: resume, checkpoints, schedules, clipping, errors."""

import json
import math
import os
import random
import signal

import numpy as np
import pytest
import torch

from odl_wasserstein.methods import SupervisedRecipe
from odl_wasserstein.training import (
    NonFiniteLossError, OptimizerSpec, Recipe, RunFolderError, RunLockedError, Trainer,
    checkpoint, lr_factor, select_device)


class IndexedData:
    """Batch ``k`` is a pure function of ``(seed, k)``, like the CT datasets."""

    def __init__(self, seed=0, batch_size=4, features=5):
        self.seed, self.batch_size, self.features = seed, batch_size, features

    def batch(self, k):
        generator = torch.Generator().manual_seed(1000 * self.seed + k)
        x = torch.randn(self.batch_size, self.features, generator=generator)
        return {'data': x, 'target': x.sum(1, keepdim=True).sin(), 'index': k}

    def batches(self, start, rank, world_size, num_workers):
        k = start
        while True:
            yield self.batch(k * world_size + rank)
            k += 1


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(),
                               torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))


class NoisyRecipe(SupervisedRecipe):
    """Dropout plus an augmentation drawing on torch, NumPy and Python `random`.

    ``crash_at``: raise at that step index, to simulate a killed run.
    ``signal_at``: send SIGINT to this process during that step.
    """

    def __init__(self, model, crash_at=None, signal_at=None, signal_kind=signal.SIGINT,
                 **kwargs):
        super().__init__(model, torch.nn.MSELoss(), **kwargs)
        self.crash_at, self.signal_at, self.signal_kind = crash_at, signal_at, signal_kind

    def training_step(self, trainer, batch, step):
        if step == self.crash_at:
            raise RuntimeError('simulated crash')
        if step == self.signal_at:
            os.kill(os.getpid(), self.signal_kind)
        scale = 0.1 * np.random.uniform() + 0.1 * random.random()
        noisy = dict(batch, data=batch['data'] + scale * torch.randn_like(batch['data']))
        return super().training_step(trainer, noisy, step)


class RandomValidation(NoisyRecipe):
    """Validation that draws random numbers, which must not leak into training."""

    def validation_step(self, trainer, batch):
        torch.rand(1), np.random.rand(), random.random()
        return super().validation_step(trainer, batch)


def trainer_for(path, recipe, data=None, **kwargs):
    kwargs.setdefault('max_steps', 12)
    kwargs.setdefault('log_every', 1)
    kwargs.setdefault('checkpoint_every', 4)
    kwargs.setdefault('progress', False)
    return Trainer(recipe, IndexedData() if data is None else data, output_dir=path, **kwargs)


def read_log(path):
    with open(path / 'metrics.jsonl') as log:
        return [json.loads(line) for line in log]


def without_time(history):
    return [{k: v for k, v in entry.items() if k != 'time'} for entry in history]


def test_resume_reproduces_uninterrupted_run_bit_for_bit(tmp_path):
    full = trainer_for(tmp_path / 'full', NoisyRecipe(make_model())).fit()
    assert full.step == 12 and not full.interrupted

    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer_for(tmp_path / 'cut', NoisyRecipe(make_model(), crash_at=9)).fit()
    assert [e['step'] for e in read_log(tmp_path / 'cut')] == list(range(1, 10))
    assert checkpoint.latest_checkpoint(tmp_path / 'cut' / 'checkpoints').name == \
        'step_000008.pt'

    # A differently initialised model: everything must come from the checkpoint.
    resumed_trainer = trainer_for(tmp_path / 'cut', NoisyRecipe(make_model(seed=5)))
    resumed = resumed_trainer.fit(resume=True)
    assert resumed.resumed_from.name == 'step_000008.pt'
    losses = [e['loss'] for e in full.history]
    assert len(set(losses)) == 12  # the run is not trivially constant
    assert [e['loss'] for e in resumed.history] == losses
    assert without_time(resumed.history) == without_time(full.history)
    # The log was cut back to step 8 before continuing: no duplicates of 9.
    assert [e['step'] for e in read_log(tmp_path / 'cut')] == list(range(1, 13))
    full_params = torch.load(tmp_path / 'full' / 'checkpoints' / 'step_000012.pt',
                             weights_only=True)['modules']['model']
    for key, value in resumed_trainer.recipe.modules['model'].state_dict().items():
        assert torch.equal(value, full_params[key])


def test_rng_restoring_matters(tmp_path):
    """Without the saved random states the resumed run would differ."""
    full = trainer_for(tmp_path / 'full', NoisyRecipe(make_model()), max_steps=6,
                       checkpoint_every=3).fit()
    path = tmp_path / 'full' / 'checkpoints' / 'step_000003.pt'
    state = torch.load(path, weights_only=True)
    state['rng'][0] = checkpoint.get_rng_state()  # the state at step 6
    torch.save(state, tmp_path / 'other.pt')
    trainer = trainer_for(tmp_path / 'other', NoisyRecipe(make_model()), max_steps=6)
    resumed = trainer.fit(resume=tmp_path / 'other.pt')
    assert [e['loss'] for e in resumed.history][3:] != [e['loss'] for e in full.history][3:]


def test_keep_last_checkpoints_and_latest_pointer(tmp_path):
    trainer_for(tmp_path, NoisyRecipe(make_model()), checkpoint_every=2,
                keep_checkpoints=3).fit()
    folder = tmp_path / 'checkpoints'
    assert [p.name for _, p in checkpoint.list_checkpoints(folder)] == [
        'step_000008.pt', 'step_000010.pt', 'step_000012.pt']
    assert (folder / 'latest').read_text() == 'step_000012.pt'
    state = checkpoint.load_checkpoint(folder)
    assert state['step'] == 12
    assert set(state) >= {'modules', 'optimizers', 'schedules', 'rng', 'recipe', 'config'}
    assert state['config']['optimizers']['model']['betas'] == (0.9, 0.99)


def test_crash_during_checkpoint_write_keeps_latest(tmp_path, monkeypatch):
    save = torch.save
    calls = []

    def failing_save(obj, file):
        calls.append(1)
        if len(calls) == 2:
            file.write(b'half a checkpoint')
            raise OSError('disk full')
        save(obj, file)

    monkeypatch.setattr(torch, 'save', failing_save)
    with pytest.raises(OSError, match='disk full'):
        trainer_for(tmp_path, NoisyRecipe(make_model())).fit()
    monkeypatch.setattr(torch, 'save', save)
    folder = tmp_path / 'checkpoints'
    assert sorted(p.name for p in folder.iterdir()) == ['latest', 'step_000004.pt']
    assert checkpoint.load_checkpoint(folder)['step'] == 4

    # A process killed during a write leaves a temporary file and maybe a
    # pointer to a file that never appeared: neither may be taken for a
    # checkpoint.
    (folder / '.step_000008.pt.x1y2.tmp').write_bytes(b'torn')
    (folder / 'latest').write_text('step_000008.pt')
    assert checkpoint.latest_checkpoint(folder).name == 'step_000004.pt'
    result = trainer_for(tmp_path, NoisyRecipe(make_model())).fit(resume=True)
    assert result.resumed_from.name == 'step_000004.pt' and result.step == 12
    assert not any(p.name.endswith('.tmp') for p in folder.iterdir())


def test_cosine_schedule_values(tmp_path):
    assert lr_factor('cosine', 0, 10) == 1.0
    assert lr_factor('cosine', 5, 10) == pytest.approx(0.5, rel=1e-15)
    assert lr_factor('cosine', 10, 10) == 0.0
    assert lr_factor('linear', 30, 40, decay_start=20) == 0.5
    assert lr_factor('constant', 7, 10) == 1.0
    result = trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=10).fit()
    lrs = [e['lr/model'] for e in result.history]
    assert lrs[0] == 1e-3  # the first step uses the full rate
    assert lrs[5] == pytest.approx(5e-4, rel=1e-12)  # index 5 of 10: half-way
    assert lrs[9] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(0.9 * math.pi)), rel=1e-12)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


class FixedGradient(Recipe):
    """``loss = scale * <w, x>`` with ``x = (3, 4, 0)``: the gradient norm is ``5 scale``."""

    def __init__(self, clip, scale=10.0):
        torch.manual_seed(0)
        super().__init__({'model': torch.nn.Linear(3, 1, bias=False)})
        self.clip, self.scale, self.seen = clip, scale, []

    def optimizers(self):
        return {'model': OptimizerSpec('model', lr=0.01, clip_grad_norm=self.clip)}

    def training_step(self, trainer, batch, step):
        model = trainer.module('model')
        before = model.weight.detach().clone()
        loss = self.scale * model(torch.tensor([[3.0, 4.0, 0.0]])).sum()
        norm = trainer.optimize('model', loss)
        self.seen.append((norm, float(model.weight.grad.norm()),
                          float((model.weight.detach() - before).abs().max())))
        return {'loss': loss.detach()}


@pytest.mark.parametrize('clip', [1.0, None])
def test_gradient_clipping(tmp_path, clip):
    recipe = FixedGradient(clip)
    result = trainer_for(tmp_path, recipe, data=[0], max_steps=3).fit()
    assert [e['grad_norm/model'] for e in result.history] == [pytest.approx(50.0)] * 3
    for norm, clipped, update in recipe.seen:
        assert norm == pytest.approx(50.0)
        assert clipped == pytest.approx(1.0 if clip else 50.0, rel=1e-6)
        assert update <= 0.01 * (1 + 1e-6)
    # Adam's first moment holds (1 - beta1^k) times the gradient it was given.
    state = checkpoint.load_checkpoint(tmp_path / 'checkpoints')['optimizers']['model']
    expected = (1 - 0.9 ** 3) * (1.0 if clip else 50.0)
    assert float(state['state'][0]['exp_avg'].norm()) == pytest.approx(expected, rel=1e-5)


class NaNRecipe(NoisyRecipe):
    def __init__(self, model, nan_at, how):
        super().__init__(model)
        self.nan_at, self.how = nan_at, how

    def training_step(self, trainer, batch, step):
        if step != self.nan_at:
            return super().training_step(trainer, batch, step)
        model = trainer.module('model')
        if self.how == 'loss':
            trainer.optimize('model', model(batch['data']).mean() * float('nan'))
        elif self.how == 'gradient':  # finite value, d sqrt(0 * w) / dw = 0 / 0
            trainer.optimize('model', torch.sqrt(0.0 * model(batch['data']).abs()).sum())
        return {'loss': float('inf')}


@pytest.mark.parametrize('how', ['loss', 'gradient', 'metric'])
def test_non_finite_loss_raises_and_keeps_last_good_checkpoint(tmp_path, how):
    recipe = NaNRecipe(make_model(), nan_at=6, how=how)
    with pytest.raises(NonFiniteLossError) as info:
        trainer_for(tmp_path, recipe, checkpoint_every=3).fit()
    good = tmp_path / 'checkpoints' / 'step_000006.pt'
    message = str(info.value)
    assert 'step 7' in message and str(good) in message
    assert info.value.checkpoint == good and info.value.step == 7
    if how == 'gradient':
        assert 'grad_norm/model=nan' in message
    assert checkpoint.latest_checkpoint(tmp_path / 'checkpoints') == good
    assert not (tmp_path / 'checkpoints' / 'step_000007.pt').exists()
    assert all(torch.isfinite(p).all() for p in recipe.modules['model'].parameters())


def test_non_finite_before_any_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match='no checkpoint was written'):
        trainer_for(tmp_path, NaNRecipe(make_model(), 1, 'loss')).fit()
    assert checkpoint.list_checkpoints(tmp_path / 'checkpoints') == []


@pytest.mark.parametrize('kind', [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_returns_interrupted(tmp_path, kind):
    """SIGTERM (issue 10, item 4: exit 143 without a checkpoint) is handled like Ctrl-C."""
    before = signal.getsignal(kind)
    result = trainer_for(tmp_path / 'cut', NoisyRecipe(make_model(), signal_at=4,
                                                       signal_kind=kind),
                         max_steps=8, checkpoint_every=None).fit()
    assert signal.getsignal(kind) is before
    assert result.signal == signal.Signals(kind).name
    assert result.interrupted and result.step == 5  # the step in progress was finished
    assert result.checkpoint.name == 'step_000005.pt'
    assert checkpoint.latest_checkpoint(tmp_path / 'cut' / 'checkpoints') == result.checkpoint

    resumed = trainer_for(tmp_path / 'cut', NoisyRecipe(make_model()),
                          max_steps=8, checkpoint_every=None).fit(resume=True)
    full = trainer_for(tmp_path / 'full', NoisyRecipe(make_model()), max_steps=8).fit()
    assert not resumed.interrupted
    assert [e['loss'] for e in resumed.history] == [e['loss'] for e in full.history]


def test_validation_logged_at_right_steps_and_does_not_perturb_training(tmp_path):
    validation = [IndexedData(seed=7).batch(k) for k in range(2)]
    result = trainer_for(tmp_path / 'val', RandomValidation(make_model()), max_steps=8,
                         log_every=4, validation_data=validation, validate_every=3).fit()
    assert [e['step'] for e in result.history] == [3, 4, 6, 8]
    assert ['val/loss' in e for e in result.history] == [True, False, True, True]
    trainer = Trainer(NoisyRecipe(make_model(seed=3)), IndexedData(), max_steps=8,
                      output_dir=tmp_path / 'val', progress=False)
    model = trainer.recipe.modules['model']
    model.load_state_dict(checkpoint.load_checkpoint(tmp_path / 'val' / 'checkpoints')
                          ['modules']['model'])
    model.eval()
    with torch.no_grad():
        expected = np.mean([float(torch.nn.functional.mse_loss(model(b['data']), b['target']))
                            for b in validation])
    assert result.history[-1]['val/loss'] == pytest.approx(expected, rel=1e-6)

    plain = trainer_for(tmp_path / 'plain', NoisyRecipe(make_model()), max_steps=8,
                        log_every=1).fit()
    logged = {e['step']: e['loss'] for e in plain.history}
    assert [e['loss'] for e in result.history] == [logged[s] for s in (3, 4, 6, 8)]


def test_figures_and_progress_bar(tmp_path, capsys):
    validation = [IndexedData(seed=7).batch(0)]
    trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=10, figure_every=5,
                validation_data=validation, validate_every=5, progress=True).fit()
    figures = sorted(p.name for p in (tmp_path / 'figures').iterdir())
    assert figures == ['step_000005.png', 'step_000010.png']
    assert (tmp_path / 'figures' / figures[0]).read_bytes()[:4] == b'\x89PNG'
    err = capsys.readouterr().err
    assert '10/10' in err and 'loss=' in err and 'step/s' in err


def test_device_auto_is_cpu_here(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    trainer = trainer_for(tmp_path, NoisyRecipe(make_model()))
    assert trainer.device == torch.device('cpu')
    assert next(trainer.recipe.modules['model'].parameters()).device.type == 'cpu'
    with pytest.raises(ValueError, match='CUDA is not available'):
        select_device('cuda')


class ToyWGAN(Recipe):
    """Two optimisers, three critic updates per generator update, recipe state."""

    def __init__(self, n_critic=3, crash_at=None):
        torch.manual_seed(0)
        super().__init__({'generator': torch.nn.Linear(2, 2),
                          'critic': torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(),
                                                        torch.nn.Linear(8, 1))})
        self.n_critic, self.crash_at, self.generator_updates = n_critic, crash_at, 0

    def optimizers(self):
        return {name: OptimizerSpec(name, lr=1e-2, betas=(0.5, 0.9))
                for name in ('critic', 'generator')}

    def training_step(self, trainer, batch, step):
        if step == self.crash_at:
            raise RuntimeError('simulated crash')
        generator, critic = trainer.module('generator'), trainer.module('critic')
        for _ in range(self.n_critic):
            with torch.no_grad():
                fake = generator(torch.randn_like(batch))
            critic_loss = (critic(fake).mean() - critic(batch).mean()
                           + 0.1 * critic(batch).pow(2).mean())
            trainer.optimize('critic', critic_loss)
        generator_loss = -critic(generator(torch.randn_like(batch))).mean()
        trainer.optimize('generator', generator_loss)
        self.generator_updates += 1
        return {'loss': generator_loss.detach(), 'critic_loss': critic_loss.detach()}

    def state_dict(self):
        return {'generator_updates': self.generator_updates}

    def load_state_dict(self, state):
        self.generator_updates = state['generator_updates']


def test_wgan_recipe_two_optimizers_round_trip(tmp_path):
    real = [torch.randn(8, 2, generator=torch.Generator().manual_seed(k)) + 3 for k in range(3)]
    recipe = ToyWGAN()
    full = trainer_for(tmp_path / 'full', recipe, data=real, max_steps=6,
                       checkpoint_every=2)
    result = full.fit()
    assert set(result.history[-1]) >= {'loss', 'critic_loss', 'grad_norm/critic',
                                       'grad_norm/generator', 'lr/critic', 'lr/generator'}
    state = checkpoint.load_checkpoint(tmp_path / 'full' / 'checkpoints')
    for name, updates in (('critic', 18), ('generator', 6)):
        saved, live = state['optimizers'][name], full.optimizers[name].state_dict()
        assert saved['param_groups'][0]['betas'] == (0.5, 0.9)
        for index, tensors in live['state'].items():
            assert int(saved['state'][index]['step']) == updates
            for key in ('exp_avg', 'exp_avg_sq'):
                assert torch.equal(saved['state'][index][key], tensors[key])
    assert state['recipe'] == {'generator_updates': 6}

    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer_for(tmp_path / 'cut', ToyWGAN(crash_at=5), data=real, max_steps=6,
                    checkpoint_every=2).fit()
    again = ToyWGAN()
    resumed = trainer_for(tmp_path / 'cut', again, data=real, max_steps=6).fit(resume=True)
    assert resumed.resumed_from.name == 'step_000004.pt'
    assert without_time(resumed.history) == without_time(result.history)
    assert again.generator_updates == 6
    saved = checkpoint.load_checkpoint(resumed.checkpoint)['optimizers']
    assert int(saved['critic']['state'][0]['step']) == 18


class NoLoss(NoisyRecipe):
    def training_step(self, trainer, batch, step):
        return {'error': super().training_step(trainer, batch, step)['loss']}


class WrongOptimizer(NoisyRecipe):
    def training_step(self, trainer, batch, step):
        trainer.optimize('critic', trainer.module('model')(batch['data']).mean())


class BadMetric(NoisyRecipe):
    def __init__(self, model, metrics):
        super().__init__(model)
        self.metrics = metrics

    def training_step(self, trainer, batch, step):
        super().training_step(trainer, batch, step)
        return self.metrics


def test_errors_in_recipes(tmp_path):
    with pytest.raises(ValueError, match=r"unknown optimizer 'critic'.*\['model'\]"):
        trainer_for(tmp_path / 'a', WrongOptimizer(make_model())).fit()
    with pytest.raises(ValueError, match=r"'loss' entry.*\['error'\]"):
        trainer_for(tmp_path / 'b', NoLoss(make_model())).fit()
    with pytest.raises(ValueError, match="reserves"):
        trainer_for(tmp_path / 'c', BadMetric(make_model(), {'loss': 1.0, 'lr/x': 2.0})).fit()
    with pytest.raises(TypeError, match="metric 'loss' must be a real number"):
        trainer_for(tmp_path / 'd', BadMetric(make_model(), {'loss': torch.ones(3)})).fit()
    trainer = trainer_for(tmp_path / 'e', NoisyRecipe(make_model()))
    with pytest.raises(RuntimeError, match='inside the recipe'):
        trainer.optimize('model', torch.ones(1, requires_grad=True).sum())
    with pytest.raises(ValueError, match="unknown module 'critic'"):
        trainer.module('critic')

    class Shared(Recipe):
        def optimizers(self):
            return {'a': OptimizerSpec('model'), 'b': OptimizerSpec('model')}

    with pytest.raises(ValueError, match="share parameters"):
        trainer_for(tmp_path / 'f', Shared({'model': make_model()}))
    with pytest.raises(NotImplementedError, match='must implement `optimizers'):
        trainer_for(tmp_path / 'g', Recipe({'model': make_model()}))


def test_errors_in_arguments(tmp_path):
    recipe = NoisyRecipe(make_model())
    with pytest.raises(TypeError, match='`recipe` must be a Recipe'):
        Trainer(make_model(), IndexedData(), 10, tmp_path)
    for key, value, error in (('max_steps', 0, ValueError), ('log_every', -1, ValueError),
                              ('keep_checkpoints', 0, ValueError),
                              ('checkpoint_every', 2.5, TypeError), ('seed', 1.5, TypeError)):
        with pytest.raises(error, match=f'`{key}` must be an int >= '):
            trainer_for(tmp_path, recipe, **{key: value})
    with pytest.raises(TypeError, match='consumed only once'):
        trainer_for(tmp_path, recipe, data=iter([1, 2]))
    with pytest.raises(ValueError, match='`validation_data` and `validate_every` go together'):
        trainer_for(tmp_path, recipe, validation_data=[1])
    with pytest.raises(ValueError, match='`num_workers` only applies'):
        trainer_for(tmp_path, recipe, data=[1], num_workers=2)
    with pytest.raises(ValueError, match='does not implement `figure`'):
        trainer_for(tmp_path, FixedGradient(1.0), figure_every=2)
    with pytest.raises(ValueError, match='`device` must be'):
        trainer_for(tmp_path, recipe, device='gpu7')
    with pytest.raises(ValueError, match='`betas` must be two numbers'):
        SupervisedRecipe(make_model(), torch.nn.MSELoss(), betas=(0.9, 1.5))
    with pytest.raises(ValueError, match='`schedule` must be one of'):
        OptimizerSpec('model', schedule='step')
    with pytest.raises(KeyError, match="set `input_key`"):
        recipe.unpack({'x': 1, 'target': 2})

    with pytest.raises(RunFolderError, match='no checkpoint to resume from.*without resume=True'):
        trainer_for(tmp_path, recipe).fit(resume=True)
    trainer_for(tmp_path, recipe, max_steps=4).fit()
    with pytest.raises(RunFolderError, match='holds a run .* continue it with resume=True'):
        trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=4).fit()
    # 'auto' continues when there is a checkpoint (here: nothing left to do).
    assert trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=4).fit(
        resume='auto').step == 4
    with pytest.raises(ValueError, match="written by the recipe .*NoisyRecipe"):
        trainer_for(tmp_path, FixedGradient(1.0)).fit(resume=True)
    other = NoisyRecipe(torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Tanh(),
                                            torch.nn.Dropout(), torch.nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="module 'model' does not match"):
        trainer_for(tmp_path, other).fit(resume=True)
    with pytest.warns(UserWarning, match="optimizer 'model' settings differ"):
        trainer_for(tmp_path, NoisyRecipe(make_model(), lr=5e-4), max_steps=4).fit(
            resume=True)


# -- regressions of the reliability campaign (issue 10) ----------------------------

def _alter_payload(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55  # inside the tensor data: the zip stays readable
    path.write_bytes(bytes(data))


DAMAGES = {
    'altered': _alter_payload,
    'truncated': lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]),
    'empty': lambda path: path.write_bytes(b''),
    'random': lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
}


@pytest.mark.parametrize('damage', sorted(DAMAGES))
def test_damaged_latest_checkpoint_falls_back_to_newest_intact(tmp_path, damage):
    """Item 1: an altered payload resumed 4.7e-2 away from the true run; other
    damage blocked resume with messages like '[Errno 22] Invalid argument'."""
    full = trainer_for(tmp_path / 'full', NoisyRecipe(make_model())).fit()
    with pytest.raises(RuntimeError, match='simulated crash'):
        trainer_for(tmp_path / 'cut', NoisyRecipe(make_model(), crash_at=9)).fit()
    folder = tmp_path / 'cut' / 'checkpoints'
    damaged = folder / 'step_000008.pt'
    DAMAGES[damage](damaged)
    with pytest.raises(checkpoint.DamagedCheckpointError, match='step_000008.pt is damaged'):
        checkpoint.verify_checkpoint(damaged)
    with pytest.warns(RuntimeWarning) as caught:
        resumed = trainer_for(tmp_path / 'cut', NoisyRecipe(make_model(seed=3))).fit(
            resume=True)
    message = str(caught[0].message)
    assert 'step_000008.pt is damaged' in message and 'using' in message
    assert 'step_000004.pt' in message
    assert resumed.resumed_from.name == 'step_000004.pt'
    # Resuming from step 4 reproduces the uninterrupted run exactly.
    assert without_time(resumed.history) == without_time(full.history)
    # The damaged file is kept aside, never read again.
    assert (folder / 'step_000008.pt.damaged').is_file()
    assert checkpoint.load_checkpoint(folder)['step'] == 12


def test_damaged_checkpoint_chosen_explicitly_is_refused(tmp_path):
    trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=8).fit()
    path = tmp_path / 'checkpoints' / 'step_000008.pt'
    _alter_payload(path)
    for resume in (path, 8):
        with pytest.raises(checkpoint.DamagedCheckpointError, match='fails its CRC check'):
            trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=8).fit(resume=resume)
    with pytest.raises(checkpoint.DamagedCheckpointError, match='fails its CRC check'):
        checkpoint.load_checkpoint(path)
    # Every checkpoint damaged: no silent fallback to a fresh run.
    _alter_payload(tmp_path / 'checkpoints' / 'step_000004.pt')
    with pytest.raises(checkpoint.DamagedCheckpointError, match='no other checkpoint'):
        trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=8).fit(resume='auto')


def test_resume_from_a_chosen_step(tmp_path):
    full = trainer_for(tmp_path / 'full', NoisyRecipe(make_model())).fit()
    trainer_for(tmp_path / 'run', NoisyRecipe(make_model()), keep_checkpoints=None).fit()
    resumed = trainer_for(tmp_path / 'run', NoisyRecipe(make_model(seed=2))).fit(resume=4)
    assert resumed.resumed_from.name == 'step_000004.pt'
    assert without_time(resumed.history) == without_time(full.history)
    with pytest.raises(RunFolderError, match='no checkpoint of step 5 .* it has steps '
                                             r'\[4, 8, 12\]'):
        trainer_for(tmp_path / 'run', NoisyRecipe(make_model())).fit(resume=5)


HOLD_LOCK = '''
import sys, time
from odl_wasserstein.training import RunFolder
with RunFolder(sys.argv[1]).lock():
    print('locked', flush=True)
    time.sleep(60)
'''


def test_one_writer_per_run_folder(tmp_path):
    """Item 3: two runs into one folder both exited 0 and one run was lost."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(RunLockedError, match=f'in use by another process \\(pid '
                                                 f'{holder.pid} on'):
            trainer_for(tmp_path, NoisyRecipe(make_model())).fit()
        assert not (tmp_path / 'metrics.jsonl').exists()  # refused before writing
    finally:
        holder.kill()  # like kill -9: the system releases the lock
        holder.wait()
    result = trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=4).fit()
    assert result.step == 4
    # The lock is re-entrant in one process and released after the fit.
    from odl_wasserstein.training import RunFolder
    with RunFolder(tmp_path).lock(), pytest.warns(UserWarning, match='max_steps=4'):
        trainer_for(tmp_path, NoisyRecipe(make_model()), max_steps=6).fit(resume=True)
