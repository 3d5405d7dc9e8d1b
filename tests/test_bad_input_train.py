"""Bad input to the training entry points: a clear TypeError / ValueError naming the argument
before the first training step; damaged checkpoints found and survived (bit-exact resume from
the newest good one); a non-finite loss stops the run without writing anything of its epoch."""

import glob
import importlib.util
import math
import os
import re
import shutil
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnjax import nn, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAN = float("nan")


class _Count(nnx.Variable):
    """Forward calls (train steps and evaluation batches), for the NaN-at-step-k model."""


class _Net(nnx.Module):
    """Dense -> LIF -> dense over a direct-encoded [B, 8] input (T = 3); with ``nan_at=k`` the
    k-th forward call (counting training steps and evaluation batches) outputs NaN."""

    def __init__(self, rngs, hidden=16, nan_at=None):
        self.fc1 = nnx.Linear(8, hidden, rngs=rngs)
        self.lif = nn.LIF(tau=2.0)
        self.fc2 = nnx.Linear(hidden, 2, rngs=rngs)
        self.nan_at = nan_at
        if nan_at is not None:
            self.calls = _Count(jnp.zeros((), jnp.int32))

    def __call__(self, x):
        xs = jnp.broadcast_to(x[None], (3,) + x.shape)
        s = self.lif(self.fc1(xs))
        out = self.fc2(s)
        if self.nan_at is not None:
            self.calls[...] = self.calls[...] + 1
            out = jnp.where(self.calls[...] == self.nan_at, jnp.nan, out)
        return out, [s]


def _forward(model, x):
    return model(x)


def _logits(out):
    return out.mean(0)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(size=(n, 8)).astype(np.float32) + 1.5 * y[:, None]
    return x, y


TRAIN, TEST = _data(40, 0), _data(20, 1)  # batch 8: 5 steps per epoch, one evaluation batch


def _setup(**net):
    model = _Net(nnx.Rngs(0), **net)
    return model, nnx.Optimizer(model, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param)


def _kw(**over):
    kw = dict(
        forward=_forward,
        loss_fn=train.mean_over_time_ce,
        logits_fn=_logits,
        train_data=TRAIN,
        test_data=TEST,
        epochs=3,
        batch_size=8,
        seed=5,
        progress=False,
        log=lambda s: None,
    )
    kw.update(over)
    return kw


def _params(model):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def _with(data, x=None, y=None):
    return (data[0] if x is None else x, data[1] if y is None else y)


# --------------------------------------------------------------------------- the audit table: fit

_X, _Y = TRAIN
_FIT_CASES = [
    # (argument, overrides, error, message naming the argument)
    ("epochs", dict(epochs=0), ValueError, r"epochs must be a positive int, got 0"),
    ("epochs", dict(epochs=2.0), TypeError, r"epochs must be a positive int, got float 2\.0"),
    ("epochs", dict(epochs=True), TypeError, r"epochs must be a positive int, got bool"),
    ("batch_size", dict(batch_size=0), ValueError, r"batch_size must be a positive int, got 0"),
    ("batch_size", dict(batch_size="8"), TypeError, r"batch_size must be a positive int, got str"),
    ("eval_batch_size", dict(eval_batch_size=-1), ValueError, r"eval_batch_size must be a positive int, got -1"),
    ("max_steps_per_epoch", dict(max_steps_per_epoch=0), ValueError, r"max_steps_per_epoch must be a positive int"),
    ("max_steps_per_epoch", dict(max_steps_per_epoch=1.5), TypeError, r"max_steps_per_epoch must be a positive int"),
    ("seed", dict(seed=-1), ValueError, r"seed must be an int in \[0, inf\], got -1"),
    ("seed", dict(seed=0.5), TypeError, r"seed must be an int, got float"),
    ("augment_seed", dict(augment_seed="1"), TypeError, r"augment_seed must be an int or None, got str"),
    ("resume", dict(resume=1), TypeError, r"resume must be a bool .*got int"),
    ("progress", dict(progress="no"), TypeError, r"progress must be a bool .*got str"),
    ("stop_on_nan", dict(stop_on_nan=None), TypeError, r"stop_on_nan must be a bool .*got NoneType"),
    ("out_dir", dict(out_dir=3), TypeError, r"out_dir must be a str, an os.PathLike or None, got int"),
    ("out_dir", dict(resume=True), ValueError, r"resume=True needs out_dir"),
    ("forward", dict(forward=3), TypeError, r"forward must be callable forward\(model, x\).*got int"),
    ("loss_fn", dict(loss_fn="ce"), TypeError, r"loss_fn must be callable .*got str"),
    ("logits_fn", dict(logits_fn=3), TypeError, r"logits_fn must be callable .*got int"),
    ("train_transform", dict(train_transform=3), TypeError, r"train_transform must be callable .*or None"),
    ("eval_transform", dict(eval_transform="x"), TypeError, r"eval_transform must be callable .*or None"),
    ("lr_schedule", dict(lr_schedule=0.1), TypeError, r"lr_schedule must be callable .*got float"),
    ("lr_schedule", dict(lr_schedule=lambda s: NAN), ValueError, r"lr_schedule\(0\) .*must be finite, got nan"),
    (
        "lr_schedule",
        dict(lr_schedule=lambda s: jnp.where(s >= 5, jnp.nan, 0.1)),
        ValueError,
        r"lr_schedule\(5\) \(the learning rate of epoch 1\) must be finite",
    ),
    ("lr_schedule", dict(lr_schedule=lambda s: -0.1), ValueError, r"lr_schedule\(0\) .*must be >= 0, got -0\.1"),
    ("log", dict(log=None), TypeError, r"log must be callable"),
    ("devices", dict(devices=0), ValueError, r"devices must be between 1 and the \d+ available device\(s\), got 0"),
    ("devices", dict(devices=-2), ValueError, r"devices must be between 1 .*got -2"),
    ("devices", dict(devices=10_000), ValueError, r"devices must be between 1 .*got 10000"),
    ("devices", dict(devices=True), TypeError, r"devices must be an int, a non-empty sequence of jax.Device"),
    ("devices", dict(devices="cpu"), TypeError, r"devices must be an int, a non-empty sequence .*got str"),
    ("devices", dict(devices=[]), TypeError, r"devices must be an int, a non-empty sequence"),
    ("train_data", dict(train_data=_X), TypeError, r"train_data must be a pair \(inputs, labels\)"),
    ("train_data", dict(train_data=(_X,)), TypeError, r"train_data must be a pair \(inputs, labels\)"),
    ("train_data", dict(train_data=([[1.0]], _Y[:1])), TypeError, r"train_data\[0\] \(inputs\) must be an array"),
    ("train_data", dict(train_data=(_X[:0], _Y[:0])), ValueError, r"train_data must hold at least one example"),
    (
        "train_data",
        dict(train_data=(_X, _Y[:-1])),
        ValueError,
        r"train_data must have as many labels as inputs, got 40 inputs .* and 39 labels",
    ),
    (
        "train_data",
        dict(train_data=(_X, _Y.astype(np.float32))),
        TypeError,
        r"train_data\[1\] \(labels\) must be integer class indices, got ndarray .*float32",
    ),
    ("train_data", dict(train_data=(_X, _Y[:, None])), ValueError, r"train_data\[1\] \(labels\) must have rank 1"),
    (
        "train_data",
        dict(train_data=(_X, np.where(np.arange(40) == 7, -1, _Y))),
        ValueError,
        r"train_data\[1\] \(labels\) must be class indices >= 0, got min -1 \(at index 7\)",
    ),
    (
        "train_data",
        dict(train_data=(_X, np.where(np.arange(40) == 3, 2, _Y))),
        ValueError,
        r"train_data\[1\] \(labels\) must be class indices < the model's 2 classes .*got max 2 \(at index 3\)",
    ),
    (
        "train_data",
        dict(train_data=(np.where(np.arange(40)[:, None] == 9, np.nan, _X), _Y)),
        ValueError,
        r"train_data\[0\] \(inputs\) must be finite, got NaN/inf in example 9",
    ),
    (
        "test_data",
        dict(test_data=(TEST[0], TEST[1] + 3)),
        ValueError,
        r"test_data\[1\] \(labels\) must be class indices < the model's 2 classes",
    ),
    (
        "test_data",
        dict(test_data=(TEST[0][:, :4], TEST[1])),
        ValueError,
        r"train_data and test_data inputs must have the same per-example shape, got \(8,\) and \(4,\)",
    ),
    (
        "logits_fn",
        dict(logits_fn=lambda o: o),
        ValueError,
        r"logits_fn\(outputs\) must return logits \[B, C\] = \[8, C\] .*got shape \(3, 8, 2\)",
    ),
    (
        "loss_fn",
        dict(loss_fn=lambda o, y: jnp.mean(o, axis=(0, 2))),
        ValueError,
        r"loss_fn\(outputs, labels\) must return a scalar .*got shape \(8,\)",
    ),
    ("forward", dict(forward=lambda m, x: m(x)[0]), TypeError, r"forward must return \(outputs \[T, B, C\]"),
]


@pytest.mark.parametrize("arg,over,err,msg", _FIT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(_FIT_CASES)])
def test_fit_rejects_bad_arguments_before_training(arg, over, err, msg):
    model, opt = _setup()
    before = _params(model)
    with pytest.raises(err, match=msg) as info:
        train.fit(model, opt, **_kw(**over))
    assert arg in str(info.value)
    chex.assert_trees_all_equal(_params(model), before)  # no step was taken
    assert int(opt.step[...]) == 0


def test_fit_rejects_a_non_module_model_and_a_bare_optax_optimizer():
    model, opt = _setup()
    with pytest.raises(TypeError, match=r"model must be an nnx.Module, got dict"):
        train.fit({"w": 1}, opt, **_kw())
    with pytest.raises(TypeError, match=r"optimizer must be an nnx.Optimizer .*got GradientTransformation"):
        train.fit(model, optax.sgd(0.1), **_kw())


def test_fit_rejects_a_nan_learning_rate_in_the_optimizer_hyperparams():
    model = _Net(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.inject_hyperparams(optax.sgd)(learning_rate=NAN), wrt=nnx.Param)
    with pytest.raises(
        ValueError,
        match=r"optimizer learning rate \(opt_state/hyperparams/learning_rate\) "
        r"must be finite, got nan",
    ):
        train.fit(model, opt, **_kw())


def test_fit_rejects_an_out_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    model, opt = _setup()
    with pytest.raises(ValueError, match=r"out_dir must be a directory, got the file"):
        train.fit(model, opt, **_kw(out_dir=f))


# --------------------------------------------------------------------------- evaluate, make_steps, mesh


def test_evaluate_make_steps_and_mesh_reject_bad_arguments():
    model, _ = _setup()
    _, eval_step = train.make_steps(_forward, train.mean_over_time_ce, _logits)
    cases = [
        (lambda: train.evaluate(3, model, TEST, 8), TypeError, r"eval_step must be callable"),
        (lambda: train.evaluate(eval_step, "m", TEST, 8), TypeError, r"model must be an nnx.Module, got str"),
        (
            lambda: train.evaluate(eval_step, model, (TEST[0], TEST[1][:3]), 8),
            ValueError,
            r"data must have as many labels as inputs, got 20 inputs",
        ),
        (
            lambda: train.evaluate(eval_step, model, (TEST[0][:0], TEST[1][:0]), 8),
            ValueError,
            r"data must hold at least one example",
        ),
        (lambda: train.evaluate(eval_step, model, TEST, 0), ValueError, r"batch_size must be a positive int, got 0"),
        (lambda: train.make_steps(None, train.mean_over_time_ce, _logits), TypeError, r"forward must be callable"),
        (lambda: train.make_steps(_forward, 1, _logits), TypeError, r"loss_fn must be callable"),
        (
            lambda: train.make_steps(_forward, train.mean_over_time_ce, _logits, eval_transform=1),
            TypeError,
            r"eval_transform must be callable",
        ),
        (lambda: train.data_parallel_mesh(0), ValueError, r"devices must be between 1"),
        (lambda: train.data_parallel_mesh(np.int64(-1)), ValueError, r"devices must be between 1 .*got -1"),
        (lambda: train.data_parallel_mesh([jax.devices()[0]] * 2), ValueError, r"devices lists a device more"),
        (lambda: train.data_parallel_mesh(["cpu:0"]), TypeError, r"devices must be an int, a non-empty sequence"),
    ]
    for fn, err, msg in cases:
        with pytest.raises(err, match=msg):
            fn()
    assert train.data_parallel_mesh(np.int64(1)) is None


# --------------------------------------------------------------------------- losses, schedules, metrics

_OUT = np.random.default_rng(0).normal(size=(7, 5, 4)).astype(np.float32)  # [T, B, C]
_LAB = np.array([0, 1, 2, 3, 1])
_LOSS_CASES = [
    (train.max_over_time_ce, (_OUT[0], _LAB), {}, ValueError, r"outputs must have rank 3, got shape \(5, 4\)"),
    (train.mean_over_time_ce, (_OUT.astype(np.int32), _LAB), {}, TypeError, r"outputs must have a floating dtype"),
    (train.tet_loss, (_OUT, _LAB.astype(np.float32)), {}, TypeError, r"labels must be integer class indices"),
    (train.tet_loss, (_OUT, _LAB[:3]), {}, ValueError, r"labels must have shape \[B\] = \(5,\) .*got \(3,\)"),
    (
        train.max_over_time_ce,
        (_OUT, _LAB + 1),
        {},
        ValueError,
        r"labels must be class indices in \[0, 4\) .*got min 1 and max 4",
    ),
    (train.mean_over_time_ce, (_OUT, _LAB - 1), {}, ValueError, r"labels must be class indices in \[0, 4\)"),
    (train.tet_loss, (_OUT, _LAB), dict(lam=NAN), ValueError, r"lam must be finite"),
    (train.tet_loss, (_OUT, _LAB), dict(lam=1.5), ValueError, r"lam must lie in \[0.0, 1.0\], got 1.5"),
    (train.tet_loss, (_OUT, _LAB), dict(lam="0.1"), TypeError, r"lam must be a real number in \[0, 1\], got str"),
    (train.tet_loss, (_OUT, _LAB), dict(phi=NAN), ValueError, r"phi must be finite \(no NaN/inf\), got nan"),
    (train.tet_loss, (_OUT, _LAB), dict(phi="1"), TypeError, r"phi must be a real number, got str"),
    (
        train.max_over_time_logits,
        (_OUT,),
        dict(include_initial_zero=1),
        TypeError,
        r"include_initial_zero must be a bool",
    ),
    (train.accuracy, (_OUT, _LAB), {}, ValueError, r"logits must have rank 2 .*got shape \(7, 5, 4\)"),
    (train.accuracy, (_OUT[0], _LAB[:2]), {}, ValueError, r"labels must have shape \[B\] = \(5,\)"),
    (train.accuracy, (_OUT[0], _LAB * 2), {}, ValueError, r"labels must be class indices in \[0, 4\)"),
    (train.step_lr, (NAN, 4), {}, ValueError, r"lr must be finite"),
    (train.step_lr, (-0.1, 4), {}, ValueError, r"lr must be > 0.0, got -0.1"),
    (train.step_lr, (0.1, 0), {}, ValueError, r"steps_per_epoch must be a positive int, got 0"),
    (train.step_lr, (0.1, 2.5), {}, TypeError, r"steps_per_epoch must be a positive int, got float"),
    (train.step_lr, (0.1, 4), dict(gamma=NAN), ValueError, r"gamma must be finite"),
    (train.step_lr, (0.1, 4), dict(step_size=0), ValueError, r"step_size must be a positive int, got 0"),
    (train.multistep_lr, (0.1, 4), dict(milestones=(5, 5)), ValueError, r"milestones must be distinct"),
    (train.multistep_lr, (0.1, 4), dict(milestones=(5.5,)), TypeError, r"milestones\[0\] must be an int"),
    (train.multistep_lr, (0.1, 4), dict(milestones=5), TypeError, r"milestones must be a sequence"),
    (train.multistep_lr, (0.1, 4), dict(milestones=(3,), gamma=-1.0), ValueError, r"gamma must be > 0.0"),
    (train.cosine_lr, (0.1, 4), dict(epochs=0), ValueError, r"epochs must be a positive int, got 0"),
    (train.cosine_lr, ("0.1", 4), dict(epochs=3), TypeError, r"lr must be a real number, got str"),
    (train.firing_rate, (jnp.ones(3),), {}, ValueError, r"spikes must be time-major \[T, B, \.\.\.\]"),
    (train.firing_rate, (np.array(["a"]),), {}, TypeError, r"spikes must be a numeric array"),
]


@pytest.mark.parametrize(
    "fn,args,kwargs,err,msg", _LOSS_CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_LOSS_CASES)]
)
def test_losses_schedules_metrics_reject_bad_arguments(fn, args, kwargs, err, msg):
    with pytest.raises(err, match=msg):
        fn(*args, **kwargs)


def test_losses_check_labels_only_when_concrete_under_jit():
    f = jax.jit(train.mean_over_time_ce)
    assert np.isfinite(float(f(_OUT, _LAB)))  # traced labels: dtype and shape only, no host read


def test_metrics_writer_rejects_bad_rows_and_survives_a_torn_last_line(tmp_path):
    with pytest.raises(TypeError, match=r"out_dir must be a str or os.PathLike, got int"):
        train.MetricsWriter(3)
    w = train.MetricsWriter(tmp_path)
    with pytest.raises(ValueError, match=r"row\['epoch'\] must be an int >= 0, got NoneType"):
        w.write({"loss": 1.0})
    with pytest.raises(ValueError, match=r"epoch must be an int in \[-1, inf\], got -2"):
        w.truncate(-2)
    w.write({"epoch": 0, "loss": 1.0})
    with open(w.jsonl, "a") as f:
        f.write('{"epoch": 1, "lo')  # killed mid-write
    assert [r["epoch"] for r in w.rows()] == [0]
    w.truncate(5)
    assert Path(w.jsonl).read_text() == '{"epoch": 0, "loss": 1.0}\n'
    with open(w.jsonl, "w") as f:
        f.write('garbage\n{"epoch": 0}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl line 1 is not a JSON row"):
        w.rows()


def test_checkpointer_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"directory must be a str or os.PathLike, got int"):
        train.Checkpointer(3)
    with pytest.raises(ValueError, match=r"max_to_keep must be a positive int, got 0"):
        train.Checkpointer(tmp_path / "c", max_to_keep=0)
    model, opt = _setup()
    c = train.Checkpointer(tmp_path / "c")
    try:
        with pytest.raises(ValueError, match=r"epoch must be an int in \[0, inf\], got -1"):
            c.save(-1, model, opt)
        with pytest.raises(TypeError, match=r"optimizer must be an nnx.Optimizer"):
            c.save(0, model, optax.sgd(0.1))
        with pytest.raises(TypeError, match=r"model must be an nnx.Module"):
            c.restore("model")
        assert c.restore(model, opt) is None  # an empty directory: nothing to restore
        c.save(1, model, opt)
        with pytest.raises(train.CheckpointError, match=r"epoch index 0 was not written .*epoch indices \[1\]"):
            c.save(0, model, opt)  # Orbax would skip it silently
        with pytest.raises(
            train.CheckpointError, match=r"no checkpoint of epoch index 4 .*epoch indices with one: \[1\]"
        ):
            c.restore(model, opt, epoch=4)
    finally:
        c.close()


# --------------------------------------------------------------------------- experiment scripts


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "script,argv,msg",
    [
        ("ilif_cifar", ["--neuron", "bogus"], r"--neuron: invalid choice: 'bogus' \(choose from .*'ilif'"),
        ("ilif_cifar", ["--arch", "resnet1000"], r"--arch: invalid choice"),
        ("ilif_cifar", ["--surrogate", "nope"], r"--surrogate: invalid choice: 'nope' \(choose from"),
        ("ilif_cifar", ["--lr", "nan"], r"--lr must be a finite number > 0, got nan"),
        ("ilif_cifar", ["--devices", "0"], r"--devices must be a positive int"),
        ("ilif_cifar", ["--train-subset", "0"], r"--train-subset must be a positive int"),
        ("ilif_cifar", ["--momentum", "nan"], r"--momentum must lie in \[0, 1\)"),
        ("polara_cifar", ["--dataset", "imagenet"], r"--dataset: invalid choice: 'imagenet' \(choose from"),
        ("polara_mnist", ["--neuron", "x"], r"--neuron: invalid choice: 'x' \(choose from"),
        ("polara_mnist", ["--epochs", "0"], r"--epochs must be a positive int, got 0"),
        ("polara_mnist", ["--lr", "inf"], r"--lr must be a finite number > 0, got inf"),
        ("polara_mnist", ["--train-subset", "0"], r"--train-subset must be a positive int"),
    ],
)
def test_experiment_scripts_reject_unknown_names_and_bad_numbers(script, argv, msg, capsys):
    mod = _load(script)
    with pytest.raises(SystemExit) as info:
        mod.parse(["--results-dir", "x", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(msg, err), err


# --------------------------------------------------------------------------- checkpoints lose nothing


def _opt_state(opt):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(opt)))


def _run(out_dir, epochs=3, model_kw=None, **over):
    logs = []
    model, opt = _setup(**(model_kw or {}))
    rows = train.fit(model, opt, **_kw(out_dir=out_dir, epochs=epochs, log=logs.append, **over))
    return model, opt, rows, "\n".join(logs)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """An uninterrupted 3-epoch run (started with resume=True on a missing directory: a fresh
    start, logged); max_to_keep=2 leaves the checkpoints of epochs 1 and 2."""
    d = tmp_path_factory.mktemp("ckpt") / "full"
    model, opt, rows, log = _run(d, resume=True)
    assert "no checkpoint in" in log and "starting from scratch" in log
    assert sorted(os.listdir(d / "checkpoints")) == ["1", "2"]
    return d, _params(model), _opt_state(opt), rows


def _largest_file(step_dir):
    files = [f for f in glob.glob(os.path.join(step_dir, "**"), recursive=True) if os.path.isfile(f)]
    return max(files, key=os.path.getsize)


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _truncated_array_data(ck):
    """An array chunk: Orbax alone restores some of these without an error."""
    f = _largest_file(ck / "2" / "default" / "ocdbt.process_0" / "d")
    _truncate(f)
    return os.path.relpath(f, ck / "2")


def _truncated_metadata(ck):
    _truncate(ck / "2" / "default" / "_METADATA")
    return "default/_METADATA"


def _deleted_file(ck):
    os.remove(ck / "2" / "default" / "manifest.ocdbt")
    return "default/manifest.ocdbt"


def _deleted_step_dir(ck):
    shutil.rmtree(ck / "2")
    return None


def _killed_mid_write(ck):
    """Orbax writes <step>.orbax-checkpoint-tmp-<ts> and renames it when complete: a run killed
    while saving epoch 2 leaves a partial tmp directory and no 2/."""
    tmp = ck / "2.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(ck / "2", tmp)
    _truncate(_largest_file(tmp))
    shutil.rmtree(ck / "2")
    return None


@pytest.mark.parametrize(
    "damage",
    [_truncated_array_data, _truncated_metadata, _deleted_file, _deleted_step_dir, _killed_mid_write],
    ids=lambda f: f.__name__.strip("_"),
)
def test_resume_falls_back_to_the_newest_good_checkpoint_bit_exactly(full, damage, tmp_path):
    src, params, opt_state, rows_full = full
    d = tmp_path / "run"
    shutil.copytree(src, d)
    bad_file = damage(d / "checkpoints")
    model, opt, rows, log = _run(d, resume=True)
    chex.assert_trees_all_equal(_params(model), params)
    chex.assert_trees_all_equal(_opt_state(opt), opt_state)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for a, b in zip(rows, rows_full):
        assert (a["train_loss"], a["test_loss"], a["test_acc"]) == (b["train_loss"], b["test_loss"], b["test_acc"])
    assert "resumed from the checkpoint of epoch 2" in log
    assert "dropping the metrics rows of epoch indices [2]" in log
    lines = (d / "metrics.jsonl").read_text().splitlines()
    assert [int(re.search(r'"epoch": (\d+)', s).group(1)) for s in lines] == [0, 1, 2]
    names = sorted(os.listdir(d / "checkpoints"))
    assert not [n for n in names if "tmp" in n]
    if bad_file is not None:  # the damaged checkpoint is named with the reason, and kept aside
        assert re.search(rf"checkpoints/2 \(epoch index 2\) is corrupt: file {re.escape(bad_file)} ", log), log
        assert any(n.startswith("corrupt-2-") for n in names)
    if damage is _killed_mid_write:
        assert "an incomplete write" in log
    assert {"1", "2"} <= set(names)
    c = train.Checkpointer(d / "checkpoints")
    try:
        assert c.verify(2) == (True, "")
    finally:
        c.close()


def test_all_checkpoints_damaged_is_an_error_naming_the_directory(full, tmp_path):
    src, *_ = full
    d = tmp_path / "run"
    shutil.copytree(src, d)
    for step in ("1", "2"):
        _truncate(_largest_file(d / "checkpoints" / step / "default" / "ocdbt.process_0" / "d"))
    model, opt = _setup()
    before = _params(model)
    with pytest.raises(
        train.CheckpointCorruptError,
        match=rf"no good checkpoint in {re.escape(str(d / 'checkpoints'))}: .*epoch index 2 .* epoch index 1 ",
    ):
        train.fit(model, opt, **_kw(out_dir=d, resume=True))
    chex.assert_trees_all_equal(_params(model), before)
    assert sorted(os.listdir(d / "checkpoints")) == ["1", "2"]  # nothing moved, nothing started over


def test_resume_guards_wrong_model_wrong_epochs_and_overwrites(full, tmp_path):
    src, params, *_ = full
    d = tmp_path / "run"
    shutil.copytree(src, d)
    model, opt = _setup(hidden=17)
    with pytest.raises(train.CheckpointMismatchError, match=r"does not fit this model/optimizer .*shapes differ"):
        train.fit(model, opt, **_kw(out_dir=d, resume=True))
    assert sorted(os.listdir(d / "checkpoints")) == ["1", "2"]  # not mistaken for damage
    model, opt = _setup()
    with pytest.raises(ValueError, match=r"epochs must be >= the 3 epochs the checkpoint .* has trained"):
        train.fit(model, opt, **_kw(out_dir=d, resume=True, epochs=2))
    with pytest.raises(
        ValueError,
        match=r"out_dir .* already holds a run \(checkpoints of epoch indices \[1, 2\], 3 "
        r"metrics rows\); pass resume=True",
    ):
        train.fit(model, opt, **_kw(out_dir=d))
    # inference: the model alone, without an optimizer; a checkpoint without a manifest (older
    # snnjax) is restored with Orbax's checks only, and says so
    os.remove(d / "checkpoints" / "2" / "snnjax_checksums.json")
    notes = []
    c = train.Checkpointer(d / "checkpoints", log=notes.append)
    try:
        m = _Net(nnx.Rngs(1))
        assert c.verify(2)[0] is None
        assert c.restore(m) == 2
        chex.assert_trees_all_equal(_params(m), params)
    finally:
        c.close()
    assert len(notes) == 1 and re.search(
        r"checkpoints/2 \(epoch index 2\): not verified: .* has no snnjax_checksums", notes[0]
    )


# --------------------------------------------------------------------------- a NaN loss stops the run


def test_a_nan_loss_stops_with_epoch_and_step_and_writes_nothing_of_that_epoch(tmp_path):
    # forward calls: epoch 0 = 5 steps + 1 evaluation batch; call 8 is epoch 1, step 1 (0-based)
    d = tmp_path / "nan"
    model, opt = _setup(nan_at=8)
    with pytest.raises(
        FloatingPointError,
        match=r"training loss is nan at epoch 2/3, step 2/5 \(0-based: epoch=1, step=1\); stopped "
        r"without writing a metrics row or checkpoint .*last good checkpoint is epoch 1 "
        r"\(index 0\)",
    ) as info:
        train.fit(model, opt, **_kw(out_dir=d))
    assert isinstance(info.value, train.NonFiniteLossError)
    rows = train.MetricsWriter(d).rows()
    assert [r["epoch"] for r in rows] == [0]
    assert all(math.isfinite(v) for v in rows[0].values() if isinstance(v, float))
    assert not (d / "final.json").exists()
    fresh, fresh_opt = _setup(nan_at=8)
    c = train.Checkpointer(d / "checkpoints")
    try:
        assert c.all_epochs() == [0] and c.verify(0) == (True, "")
        assert c.restore(fresh, fresh_opt) == 0
    finally:
        c.close()
    assert all(np.isfinite(v).all() for v in jax.tree.leaves(_params(fresh)))
    assert int(fresh.calls[...]) == 6  # the state after epoch 0
    # stop_on_nan=False trains on (the caller asked for it)
    model, opt = _setup(nan_at=2)
    rows = train.fit(model, opt, **_kw(epochs=1, stop_on_nan=False))
    assert math.isnan(rows[0]["train_loss"])
