"""The command line: every user error is one line and exit status 2; signals; run safety.

Regressions of the reliability campaign (issue 10, items 2, 4, 5 and 12).
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from odl_wasserstein.cli import main
from odl_wasserstein.training import checkpoint

TINY = '''name = "tiny"
experiment = "learned_ct"
[data]
size = 32
num_angles = 8
[model]
n_iter = 1
filters = 2
[train]
steps = 2
log_every = 1
checkpoint_every = 1
device = "cpu"
[evaluate]
n_samples = 1
tv_n_iter = 5
'''


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / 'tiny.toml'
    path.write_text(TINY)
    return path


def fails(capsys, argv, message):
    """Run the command; it must exit 2 with exactly one line naming ``message``."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit_info.value.code == 2, err
    assert len(lines) == 1, err
    assert message in lines[0], lines[0]
    return lines[0]


def test_every_user_error_is_one_line_and_status_2(tmp_path, tiny, capsys, monkeypatch):
    run = tmp_path / 'run'
    train = ['train', str(tiny), '--output', str(run), '--quiet']
    cases = [
        (['--set', 'train.lr=abc'], "`train.lr` must be a number, got 'abc'"),
        (['--set', 'train.betas=0.9'], '`train.betas` must be a list of 2 numbers'),
        (['--set', 'data.noise_level=nan'], '`data.noise_level` must be a number'),
        (['--set', 'data.noise_level=-1.0'], '`data.noise_level` must be a finite number >= 0'),
        (['--set', 'data.size="32"'], "`data.size` must be an int"),
        (['--set', 'train.threads=0'], '`train.threads` must be an int >= 1'),
        (['--set', 'train.lr=1e38'], '`lr` must be a finite number > 0 and <= 1e+10'),
        (['--set', 'train.schedule="step"'], '`train.schedule` must be one of'),
        (['--set', 'evaluate.fbp_filter="bogus"'], '`evaluate.fbp_filter` must be one of'),
        (['--set', 'name="../../escape"'], '`name` must be a plain name'),
        (['--set', 'train.stesp=3'], "unknown key 'stesp' in [train]"),
        (['--set', 'steps=3'], '--set expects section.key=value'),
        (['--set', 'data.size=100000'], 'needs at least'),
        (['--set', 'train.device="gpu"'], "`train.device` must be 'auto'"),
        (['--resume'], 'no checkpoint to resume from'),
        (['--resume', '7'], 'no checkpoint of step 7'),
    ]
    for extra, message in cases:
        fails(capsys, train + extra, message)
        assert not run.exists(), extra  # nothing written before the checks
    fails(capsys, ['train', 'no_such_config'], 'ct_rings_wasserstein_512')
    fails(capsys, ['train', str(tmp_path / 'missing.toml')], 'does not exist')
    (tmp_path / 'bad.toml').write_text('[data]\nsize = \n')
    fails(capsys, ['train', str(tmp_path / 'bad.toml')], 'invalid TOML')
    (tmp_path / 'strings.toml').write_text(TINY.replace('size = 32', 'size = "32"'))
    fails(capsys, ['train', str(tmp_path / 'strings.toml')], '`data.size` must be an int')
    (tmp_path / 'file').write_text('not a folder')
    fails(capsys, ['train', str(tiny), '--output', str(tmp_path / 'file' / 'run')],
          'is a file, not a folder')
    fails(capsys, ['train', str(tiny), '--output', '/proc/odl_wasserstein_test'], 'Errno')
    fails(capsys, ['demo', '--samples', '0', '--output', str(tmp_path / 'demo')],
          'argument --samples: must be a positive integer')
    fails(capsys, ['evaluate', str(run), '--samples', '0'], 'must be a positive integer')
    fails(capsys, ['evaluate', str(tmp_path)], 'has no config.json')
    assert not (tmp_path / 'demo').exists()

    # A full disk while writing a checkpoint.
    def full(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', full)
    fails(capsys, train, 'No space left on device')
    monkeypatch.undo()

    # A non-finite loss: an absurd learning rate blows the weights up.
    fails(capsys, ['train', str(tiny), '--output', str(tmp_path / 'nan'), '--quiet',
                   '--set', 'train.lr=1e9', '--set', 'train.steps=6'],
          'non-finite loss at step')


def test_refused_train_keeps_the_run_it_refused_to_overwrite(tmp_path, tiny, capsys):
    """Item 2: a refused `train` wrote config.json first and broke the run."""
    run = tmp_path / 'run'
    assert main(['train', str(tiny), '--output', str(run), '--quiet']) == 0
    recorded = (run / 'config.json').read_bytes()
    line = fails(capsys, ['train', str(tiny), '--output', str(run), '--quiet',
                          '--set', 'model.filters=4'], 'holds a run')
    assert '--resume' in line and '--output' in line and 'resume=True' not in line
    assert (run / 'config.json').read_bytes() == recorded
    fails(capsys, ['train', str(tiny), '--output', str(run), '--quiet', '--resume',
                   '--set', 'model.filters=4'], "differs from the configuration in")
    assert (run / 'config.json').read_bytes() == recorded
    # The run still resumes and evaluates.
    assert main(['train', str(tiny), '--output', str(run), '--quiet', '--resume',
                 '--set', 'train.steps=3']) == 0
    assert main(['evaluate', str(run), '--output', str(tmp_path / 'eval'),
                 '--no-baselines']) == 0
    # A damaged latest checkpoint: --resume warns and falls back, --resume STEP refuses.
    latest = checkpoint.latest_checkpoint(run / 'checkpoints')
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    latest.write_bytes(bytes(data))
    fails(capsys, ['train', str(tiny), '--output', str(run), '--quiet', '--resume', '3',
                   '--set', 'train.steps=3'], 'is damaged')
    capsys.readouterr()
    assert main(['train', str(tiny), '--output', str(run), '--quiet', '--resume',
                 '--set', 'train.steps=3']) == 0
    captured = capsys.readouterr()
    assert 'warning: checkpoint' in captured.err and 'is damaged' in captured.err
    assert 'finished at step 3' in captured.out


def _run_until_logged(argv, folder, environment=None):
    process = subprocess.Popen([sys.executable, '-m', 'odl_wasserstein.cli', *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    deadline = time.monotonic() + 120
    while not (folder / 'metrics.jsonl').is_file() or not (
            folder / 'metrics.jsonl').read_text().strip():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return process


@pytest.mark.parametrize('kind, status', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_says_how_to_resume_and_exits_with_its_status(tmp_path, tiny, kind,
                                                                   status):
    """Item 4: SIGTERM exited 143 without a checkpoint; interrupted runs exited 0."""
    run = tmp_path / 'run'
    argv = ['train', str(tiny), '--output', str(run), '--quiet',
            '--set', 'train.steps=100000', '--set', 'train.checkpoint_every=100000']
    process = _run_until_logged(argv, run)
    # A second writer is refused while the first is alive (item 3).
    second = subprocess.run([sys.executable, '-m', 'odl_wasserstein.cli', *argv[:4],
                             '--resume'], capture_output=True, text=True)
    assert second.returncode == 2
    assert second.stderr.count('\n') == 1 and 'in use by another process' in second.stderr
    process.send_signal(kind)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    last = err.strip().splitlines()[-1]
    assert f'stopped by {signal.Signals(kind).name}' in last
    assert f'continue with: odl-wasserstein train {tiny}' in last and last.endswith('--resume')
    saved = checkpoint.latest_checkpoint(run / 'checkpoints')
    step = checkpoint.load_checkpoint(saved)['step']
    assert saved.name == f'step_{step:06d}.pt' and step >= 1
    entries = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
    assert entries[-1]['step'] == step
    # The command it printed continues the run.
    resumed = main(['train', str(tiny), '--output', str(run), '--quiet', '--resume',
                    '--set', f'train.steps={step + 1}', '--set',
                    'train.checkpoint_every=100000'])
    assert resumed == 0


def test_help_and_configs(capsys):
    assert main(['configs']) == 0
    assert 'wwgan_digits_wwgan' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(['--help'])
    assert exit_info.value.code == 0
    assert os.linesep in capsys.readouterr().out


@pytest.mark.parametrize('command, module', [('demo', 'learned_ct'), ('mri', 'ot_cyclegan_mri'),
                                             ('unpaired-mri', 'unpaired_mri'),
                                             ('wwgan', 'wwgan')])
def test_demo_commands_pass_their_arguments_and_say_how_to_continue(
        tmp_path, capsys, monkeypatch, command, module):
    from odl_wasserstein import experiments
    from odl_wasserstein.training import FitResult

    experiment, calls = importlib.import_module(f'odl_wasserstein.experiments.{module}'), []

    def demo(output_dir, steps=None, progress=True, **options):
        calls.append((output_dir, steps, progress, options))
        if len(calls) == 2:
            result = FitResult(step=3, history=[], output_dir=tmp_path / 'run',
                               metrics_path=tmp_path / 'run' / 'metrics.jsonl',
                               checkpoint=tmp_path / 'step_000003.pt', interrupted=True,
                               resumed_from=None, signal='SIGTERM')
            raise experiments.TrainingInterrupted(result)
        return {'rows': 'the table'}

    monkeypatch.setattr(experiment, 'demo', demo)
    monkeypatch.setattr(experiment, 'report', lambda result: f"report of {result['rows']}")
    output = str(tmp_path / 'out')
    assert main([command, '--output', output, '--steps', '7', '--quiet']) == 0
    assert calls[0][:3] == (output, 7, False)
    assert 'report of the table' in capsys.readouterr().out
    assert main([command, '--output', output]) == 143
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f'odl-wasserstein {command}: stopped by SIGTERM at step 3' in last
    assert last.endswith(f'continue with: odl-wasserstein {command} --output {output}')
    fails(capsys, [command, '--steps', '0'], 'must be a positive integer')
