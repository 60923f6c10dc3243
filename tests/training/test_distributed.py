"""DistributedDataParallel through the Trainer: 2 CPU processes (gloo) under torchrun."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from odl_wasserstein.training import DistributedEnv, checkpoint

WORKER = Path(__file__).with_name('ddp_worker.py')

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason='needs torch.distributed with gloo')


def load_worker():
    spec = importlib.util.spec_from_file_location('ddp_worker', WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def launched(tmp_path_factory):
    """One torchrun launch with 2 processes; its output folder."""
    out = tmp_path_factory.mktemp('ddp')
    env = {k: v for k, v in os.environ.items()
           if k not in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')}
    env.update(OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               '--nproc_per_node', '2', str(WORKER), str(out)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env,
                             cwd=out)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f'torchrun did not finish in {error.timeout} s:\n{error.stderr}')
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    reports = [json.loads((out / f'report_rank{r}.json').read_text()) for r in range(2)]
    return out, reports, run.stderr


def test_ranks_hold_identical_parameters(launched):
    out, reports, _ = launched
    for run in ('compare', 'full', 'cut'):
        rank0, rank1 = (torch.load(out / f'{run}_rank{r}.pt') for r in range(2))
        for key in rank0:
            assert torch.equal(rank0[key], rank1[key]), (run, key)
    assert [r['compare']['is_main'] for r in reports] == [True, False]
    assert reports[0]['compare']['called'] == ['DistributedDataParallel']
    assert all(r['group_kept'] for r in reports)


def test_wgan_with_ground_metric_penalty_keeps_ranks_identical(launched):
    # Each rank draws its own latent vectors and real samples; the gradient
    # all-reduce (through the penalty's double backward too) keeps them equal.
    out, _, _ = launched
    for name in ('generator', 'critic'):
        rank0, rank1 = (torch.load(out / f'wgan_{name}_rank{r}.pt') for r in range(2))
        initial = torch.load(out / f'wgan_{name}_initial.pt')
        for key in rank0:
            assert torch.equal(rank0[key], rank1[key]), (name, key)
        assert any(not torch.equal(rank0[k], initial[k]) for k in rank0), name


def test_two_ranks_batch_one_equal_one_process_batch_two(launched, tmp_path):
    out, reports, _ = launched
    assert 'WORLD_SIZE' not in os.environ and not DistributedEnv.from_environ().distributed
    trainer = load_worker().compare_trainer(tmp_path)
    result = trainer.fit()
    single = trainer.recipe.modules['model'].state_dict()
    distributed = torch.load(out / 'compare_rank0.pt')
    moved = 0.0
    for key, value in single.items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-10, atol=1e-12)
        moved = max(moved, float((value - load_worker().make_model().state_dict()[key])
                                 .abs().max()))
    assert moved > 1e-3  # training changed the parameters, so the equality means something
    # Logged DDP losses are the mean over ranks, i.e. the batch-2 mean.
    torch.testing.assert_close(torch.tensor(reports[0]['compare']['losses']),
                               torch.tensor([e['loss'] for e in result.history]),
                               rtol=1e-10, atol=0)


def test_only_rank_zero_writes(launched):
    out, reports, stderr = launched
    writes = (out / 'writes_rank0.txt').read_text().split('\n')
    assert writes[:3] == ['compare 3', 'compare 6', 'full 2']
    assert not (out / 'writes_rank1.txt').exists()
    steps = [json.loads(line)['step'] for line in (out / 'compare' / 'metrics.jsonl').open()]
    assert steps == [1, 2, 3, 4, 5, 6]
    # Per-rank random states are gathered into rank 0's checkpoint.
    assert reports[0]['compare']['rng_states'] == 2
    # One progress bar (rank 0) per dropout run: 'full', 'cut' before and after
    # the crash. Bars are counted by their first line; a finished bar may print
    # its last line twice (tqdm refreshes, then closes).
    starts = re.findall(r'CrashingRecipe:\s+(\d+)%\|[^|]*\| (\d)/6 \[00:00<\?', stderr)
    assert sorted(starts) == [('0', '0'), ('0', '0'), ('67', '4')]


def test_distributed_resume_is_exact(launched):
    out, reports, _ = launched
    for report in reports:
        assert report['crash'] == 'simulated crash'
        assert report['resumed_from'] == 'step_000004.pt'
        assert report['cut'] == report['full']
    assert reports[0]['full'] == reports[1]['full']
    for r in range(2):
        full, cut = (torch.load(out / f'{run}_rank{r}.pt') for run in ('full', 'cut'))
        for key in full:
            assert torch.equal(full[key], cut[key])
    state = checkpoint.load_checkpoint(out / 'cut' / 'checkpoints')
    assert state['step'] == 6 and state['config']['world_size'] == 2
