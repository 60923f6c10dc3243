"""Worker script of ``test_distributed.py``: Trainer runs under torchrun on CPU (gloo).

Launched as::

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py OUT

Each rank runs, in one launch (the first ``fit`` creates the process group,
the later ones reuse it):

1. ``compare``: a deterministic model, 2 ranks x batch 1; the parameters of
   each rank are saved for comparison with one process and batch 2;
2. ``full``: a model with dropout, 6 uninterrupted steps;
3. ``cut``: the same, crashed at step 5 and resumed from the step-4
   checkpoint;
4. ``wgan``: `WGANRecipe` with the Wasserstein ground-metric penalty (double
   backward through the DDP-wrapped critic), 3 steps.

Every checkpoint write is recorded per rank in ``writes_rank<r>.txt``.
Importing this file (the test does, for the one-process reference) runs
nothing.
"""

import json
import os
import sys
from pathlib import Path

import torch

from odl_wasserstein.data import ImageDataset
from odl_wasserstein.nn import DCGANCritic, DCGANGenerator
from odl_wasserstein.methods import SupervisedRecipe, WGANRecipe
from odl_wasserstein.training import Trainer, checkpoint

SAMPLES_PER_STEP = 2


class SampleData:
    """Global step ``k`` uses samples ``2k`` and ``2k + 1``, split over the ranks.

    Sample ``i`` is a pure function of ``i``, so one process with batch 2
    sees the same samples as two ranks with batch 1.
    """

    def batches(self, start, rank, world_size, num_workers):
        per_rank = SAMPLES_PER_STEP // world_size
        k = start
        while True:
            first = k * SAMPLES_PER_STEP + rank * per_rank
            samples = [self.sample(i) for i in range(first, first + per_rank)]
            yield {'data': torch.stack([x for x, _ in samples]),
                   'target': torch.stack([y for _, y in samples])}
            k += 1

    @staticmethod
    def sample(i):
        generator = torch.Generator().manual_seed(i)
        x = torch.randn(6, generator=generator, dtype=torch.float64)
        return x, torch.stack([x[:3].sum().sin(), x[3:].prod()])


class CrashingRecipe(SupervisedRecipe):
    def __init__(self, model, crash_at=None, **kwargs):
        super().__init__(model, torch.nn.MSELoss(), **kwargs)
        self.crash_at = crash_at
        self.called = set()

    def training_step(self, trainer, batch, step):
        if step == self.crash_at:
            raise RuntimeError('simulated crash')
        self.called.add(type(trainer.module('model')).__name__)
        return super().training_step(trainer, batch, step)


def make_model(dropout=0.0):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, 16), torch.nn.Tanh()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    layers.append(torch.nn.Linear(16, 2))
    return torch.nn.Sequential(*layers).double()


def compare_trainer(output_dir):
    """The run that one process (batch 2) and two ranks (batch 1) must agree on."""
    recipe = CrashingRecipe(make_model(), lr=1e-2, clip_grad_norm=0.5)
    return Trainer(recipe, SampleData(), max_steps=6, output_dir=output_dir, log_every=1,
                   checkpoint_every=3, progress=False)


def dropout_trainer(output_dir, crash_at=None):
    recipe = CrashingRecipe(make_model(dropout=0.3), crash_at=crash_at, lr=1e-2)
    return Trainer(recipe, SampleData(), max_steps=6, output_dir=output_dir, log_every=1,
                   checkpoint_every=2, progress=True)


def parameters(trainer):
    return {k: v.detach().clone() for k, v in trainer.recipe.modules['model'].state_dict().items()}


def main(out):
    rank = int(os.environ['RANK'])
    save = checkpoint.save_checkpoint

    def recording_save(state, directory, step, **kwargs):
        with open(out / f'writes_rank{rank}.txt', 'a') as record:
            record.write(f'{Path(directory).parent.name} {step}\n')
        return save(state, directory, step, **kwargs)

    checkpoint.save_checkpoint = recording_save
    report = {}

    trainer = compare_trainer(out / 'compare')
    result = trainer.fit()
    torch.save(parameters(trainer), out / f'compare_rank{rank}.pt')
    report['compare'] = {'step': result.step, 'losses': [e['loss'] for e in result.history],
                         'is_main': trainer.is_main, 'called': sorted(trainer.recipe.called),
                         'rng_states': len(checkpoint.load_checkpoint(result.checkpoint)['rng'])}

    trainer = dropout_trainer(out / 'full')
    result = trainer.fit()
    torch.save(parameters(trainer), out / f'full_rank{rank}.pt')
    report['full'] = [e['loss'] for e in result.history]

    try:
        dropout_trainer(out / 'cut', crash_at=4).fit()
    except RuntimeError as error:
        report['crash'] = str(error)
    trainer = dropout_trainer(out / 'cut')
    result = trainer.fit(resume=True)
    torch.save(parameters(trainer), out / f'cut_rank{rank}.pt')
    report['cut'] = [e['loss'] for e in result.history]
    report['resumed_from'] = result.resumed_from.name
    report['group_kept'] = torch.distributed.is_initialized()

    torch.manual_seed(0)
    networks = {'generator': DCGANGenerator(latent_dim=8, size=16, filters=4),
                'critic': DCGANCritic(size=16, filters=4)}
    # Parameters only: batch-norm running statistics are per rank between
    # forwards (DDP broadcasts rank 0's at each forward; checkpoints hold rank 0's).
    initial = {name: {k: v.detach().clone() for k, v in module.named_parameters()}
               for name, module in networks.items()}
    images = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    recipe = WGANRecipe(networks['generator'], networks['critic'], n_critic=2,
                        penalty='wasserstein', penalty_weight=4.0, lr=1e-3)
    Trainer(recipe, ImageDataset(images, 4, seed=0), max_steps=3, output_dir=out / 'wgan',
            log_every=1, progress=False).fit()
    for name, module in networks.items():
        torch.save({k: v.detach().clone() for k, v in module.named_parameters()},
                   out / f'wgan_{name}_rank{rank}.pt')
        torch.save(initial[name], out / f'wgan_{name}_initial.pt')

    with open(out / f'report_rank{rank}.json', 'w') as file:
        json.dump(report, file)


if __name__ == '__main__':
    main(Path(sys.argv[1]))
