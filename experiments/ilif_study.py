"""ILIF's claims on Fashion-MNIST and MNIST (issue 16): the queue of runs, the runner and the report.

The protocol is ``experiments/ILIF_STUDY.md``. Every run is one ``experiments/ilif_cifar.py``
training (a narrow pre-activation ResNet, direct encoding, T = 4, per-step BN, TET, SGD +
cosine, τ = 1.1, rectangle surrogate) on a fixed 90 % of the (sub-sampled) training set,
evaluated on the fixed 10 % hold-out (``--holdout 0.1``), followed by the gradient norms
that reach each layer (``gradnorm.json``: on the first ``gradnorm_n`` hold-out images, at
initialisation and from the final checkpoint). The test set is touched only by the ``test``
stage, after the hold-out results are written down, and only for the comparison runs.

    python experiments/ilif_study.py plan                       # the run list with commands
    python experiments/ilif_study.py run runs/ilif_study --jobs 2   # kill and restart at will
    python experiments/ilif_study.py run runs/ilif_study --only 'ilif*__fashion_mnist__*'
    python experiments/ilif_study.py report runs/ilif_study --out experiments/figures/ilif_study
    python experiments/ilif_study.py test runs/ilif_study --jobs 2  # last: the test set, once
    python experiments/ilif_study.py --scale tiny plan          # the same queue shape in seconds

``run`` executes the queue ``--jobs`` at a time (``ROOT/JOBS``, if present, overrides it
while running), each run in its own process pinned to one core (``os.sched_setaffinity``,
single-threaded XLA), writing into ``ROOT/<run-name>`` (``log.txt`` there). A run is
finished when ``ROOT/<run-name>/done.json`` exists; finished runs are skipped, unfinished
ones continue with ``--resume`` from their per-epoch checkpoints. A run directory held by a
live process (``ROOT/<run-name>/lock``) is skipped, so two runners never train the same run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# label -> (ilif_cifar.py flags, name in the tables)
NEURONS = {
    "lif": (["--neuron", "lif"], "LIF"),
    "ilif": (["--neuron", "ilif"], "ILIF"),
    "clif": (["--neuron", "clif"], "CLIF"),
    "ilif_no_mpiu": (["--neuron", "ilif", "--ablation", "no_mpiu"], "ILIF w/o MPIU"),
    "ilif_no_ciu": (["--neuron", "ilif", "--ablation", "no_ciu"], "ILIF w/o CIU"),
    "plif": (["--neuron", "plif"], "PLIF"),
    "iplif": (["--neuron", "iplif"], "IPLIF"),
}

# The study's sizes (ILIF_STUDY.md, sections "Sizing" and "Deviations"). ``compare``: data set ->
# (neurons, seeds) of the γ = 1 comparisons. ``tiny``: the queue's shape in seconds (tests).
# ``v1``: the first sizing (120 steps of 128), kept so that its 4 runs can be read back.
_FULL_COMMON = dict(
    widths=(8, 16, 32),
    train_subset=None,
    eval_batch_size=256,
    analysis_batches=1,
    test_subset=2000,
    test_stage_subset=None,
    gradnorm_n=256,
    gamma_dataset="fashion_mnist",
    gamma_neurons=("lif", "ilif"),
    gammas=(0.5, 1.0, 2.0, 3.0, 4.0),
)
SCALES = {
    "full": dict(
        _FULL_COMMON,
        epochs=8,
        max_steps=60,
        batch_size=64,
        compare={"fashion_mnist": (tuple(NEURONS), (0, 1, 2)), "mnist": (("lif", "ilif", "clif"), (0,))},
        gamma_seeds=(0,),
    ),
    "v1": dict(
        _FULL_COMMON,
        epochs=4,
        max_steps=30,
        batch_size=128,
        compare={"fashion_mnist": (tuple(NEURONS), (0, 1, 2)), "mnist": (tuple(NEURONS), (0, 1, 2))},
        gamma_seeds=(0, 1),
    ),
    "tiny": dict(
        widths=(4, 8),
        epochs=2,
        max_steps=None,
        train_subset=300,
        batch_size=64,
        eval_batch_size=64,
        analysis_batches=1,
        test_subset=100,
        test_stage_subset=100,
        gradnorm_n=16,
        compare={"fashion_mnist": (("lif", "ilif"), (0,))},
        gamma_dataset="fashion_mnist",
        gamma_neurons=("lif",),
        gammas=(1.0, 2.0),
        gamma_seeds=(0,),
    ),
}


@dataclass(frozen=True)
class Run:
    neuron: str  # a key of NEURONS
    dataset: str
    gamma: float
    seed: int
    groups: tuple[str, ...] = field(default=(), compare=False)  # "compare", "gamma"

    @property
    def name(self) -> str:
        return f"{self.neuron}__{self.dataset}__g{self.gamma:g}__s{self.seed}"

    @property
    def config(self) -> tuple[str, str, float]:
        return (self.neuron, self.dataset, self.gamma)


def plan(scale: str = "full") -> list[Run]:
    """The study's runs, seed-major (every configuration gets seed 0 before any gets seed 1),
    comparisons before the γ sweep within a seed; a run in both groups is listed once."""
    s = SCALES[scale]
    runs: dict[str, Run] = {}

    def add(run: Run, group: str) -> None:
        old = runs.get(run.name)
        runs[run.name] = Run(run.neuron, run.dataset, run.gamma, run.seed, ((*old.groups,) if old else ()) + (group,))

    compare_seeds = {seed for _, seeds in s["compare"].values() for seed in seeds}
    for seed in sorted(compare_seeds | set(s["gamma_seeds"])):
        for d, (neurons, seeds) in s["compare"].items():
            if seed in seeds:
                for n in neurons:
                    add(Run(n, d, 1.0, seed), "compare")
        if seed in s["gamma_seeds"]:
            for g in s["gammas"]:
                for n in s["gamma_neurons"]:
                    add(Run(n, s["gamma_dataset"], float(g), seed), "gamma")
    return list(runs.values())


def run_dir(root: str, run: Run) -> str:
    return os.path.join(root, run.name)


def train_argv(run: Run, root: str, scale: str = "full") -> list[str]:
    """The ``experiments/ilif_cifar.py`` arguments of a run (always ``--resume``: a fresh
    directory starts from scratch, a partial one continues)."""
    s = SCALES[scale]
    argv = [
        *NEURONS[run.neuron][0], "--dataset", run.dataset, "--arch", "preact_resnet",
        "--widths", ",".join(map(str, s["widths"])), "--blocks", ",".join("1" * len(s["widths"])),
        "--T", "4", "--surrogate", "rectangle", "--gamma", f"{run.gamma:g}", "--seed", str(run.seed),
        "--epochs", str(s["epochs"]), "--batch-size", str(s["batch_size"]),
        "--eval-batch-size", str(s["eval_batch_size"]), "--analysis-batches", str(s["analysis_batches"]),
        "--holdout", "0.1", "--no-augment", "--no-progress", "--results-dir", run_dir(root, run), "--resume",
    ]  # fmt: skip
    if s["train_subset"]:
        argv += ["--train-subset", str(s["train_subset"])]
    if s["max_steps"]:
        argv += ["--max-steps-per-epoch", str(s["max_steps"])]
    if s["test_subset"]:  # with --holdout: the first N hold-out images are evaluated each epoch
        argv += ["--test-subset", str(s["test_subset"])]
    return argv


def command_line(run: Run, root: str, scale: str = "full") -> str:
    return " ".join(["python", "experiments/ilif_cifar.py", *train_argv(run, root, scale)])


# --------------------------------------------------------------------------- state of a run


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def metrics_rows(d: str) -> list[dict]:
    try:
        with open(os.path.join(d, "metrics.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _has_checkpoint(d: str) -> bool:
    ck = os.path.join(d, "checkpoints")
    return os.path.isdir(ck) and any(e.isdigit() for e in os.listdir(ck))


def status(root: str, run: Run) -> str:
    """``done`` (``done.json``), ``running`` (a live process holds the lock), ``partial``
    (something of it on disk) or ``todo``."""
    d = run_dir(root, run)
    if os.path.exists(os.path.join(d, "done.json")):
        return "done"
    if _lock_holder(d) is not None:
        return "running"
    if metrics_rows(d) or _has_checkpoint(d):
        return "partial"
    return "todo"


def _lock_holder(d: str) -> int | None:
    try:
        with open(os.path.join(d, "lock")) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid if pid != os.getpid() else None


_SIZING_KEYS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "max_steps_per_epoch": "max_steps",
    "train_subset": "train_subset",
    "widths": "widths",
}


def sizing_mismatch(root: str, run: Run, scale: str) -> str | None:
    """Why the run directory on disk was made with other sizes than ``scale``'s (its
    ``config.json``), or None. Such a run is neither resumed nor counted as done."""
    config = _read_json(os.path.join(run_dir(root, run), "config.json"))
    if config is None:
        return None
    s = SCALES[scale]
    diffs = []
    for key, skey in _SIZING_KEYS.items():
        want = list(s[skey]) if isinstance(s[skey], tuple) else s[skey]
        if key in config and config[key] != want:
            diffs.append(f"{key}={config[key]!r} (scale {scale!r}: {want!r})")
    return ", ".join(diffs) or None


# --------------------------------------------------------------------------- one run (in its own process)


def grad_norms(d: str, n: int) -> dict:
    """L2 norms of ∂loss/∂W for every kernel of the run's network, on the first ``n`` hold-out
    images (the training loss, TET; BatchNorm with batch statistics as in training; dropout
    off so the number is deterministic), at initialisation (the run's seed) and with the
    final checkpoint. ``first_layer`` is the stem convolution."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    sys.path.insert(0, HERE)
    import deep
    import ilif_cifar

    from snnjax import train

    config = _read_json(os.path.join(d, "config.json"))
    args = ilif_cifar.parse([a for a in config["argv"] if a not in ("--resume", "--test-after")])
    info = deep.DATASETS[args.dataset]
    train_set, eval_set, _ = deep.prepare_data(args, info, ilif_cifar._smoke_shape(args))
    x, y = eval_set[0][:n], jnp.asarray(eval_set[1][:n])
    model = ilif_cifar.build_model(args, info, train_set[0].shape[-1], train_set[0].shape[-2])
    loss_fn, _ = ilif_cifar.loss_fns(args)
    forward = deep.make_forward(info, args.T)
    _, eval_t = deep.transforms(info, augment_on=False)
    xb = eval_t(jnp.asarray(x))

    def loss_of(m, xb, y):
        out, _ = forward(m, xb)
        return loss_fn(out, y)

    @nnx.jit
    def value_and_grads(m, xb, y):
        return nnx.value_and_grad(loss_of)(m, xb, y)

    def norms() -> dict:
        model.train()
        for _, m in nnx.iter_modules(model):
            if isinstance(m, nnx.Dropout):
                m.deterministic = True
        try:
            loss, grads = value_and_grads(model, xb, y)
        finally:
            model.train()
        flat, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(grads))
        layers = {}
        for path, leaf in flat:
            keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
            if keys[-1] == "kernel":
                layers["/".join(keys[:-1])] = float(jnp.linalg.norm(jnp.ravel(leaf)))
        total = float(jnp.sqrt(sum(jnp.sum(jnp.square(v)) for v in jax.tree.leaves(grads))))
        stem = next(k for k in layers if k.startswith("stem"))
        return {
            "loss": float(loss),
            "first_layer": layers[stem],
            "first_layer_name": stem,
            "total": total,
            "layers": layers,
        }

    out = {"n": int(len(y)), "batch": "first n images of the hold-out", "init": norms()}
    tx, _ = deep.sgd(args, 1, lambda lr, s: train.cosine_lr(lr, s, epochs=args.epochs))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    ckpt = train.Checkpointer(os.path.join(d, "checkpoints"))
    try:
        epoch = ckpt.restore(model, optimizer)
    finally:
        ckpt.close()
    out["checkpoint_epoch"] = epoch
    out["final"] = norms()
    return out


def job(root: str, name: str, scale: str, stage: str) -> int:
    """One run in this process: train (or resume), then the gradient norms, then ``done.json``;
    with ``stage="test"`` the finished run once more with ``--test-after`` (no training: the
    last checkpoint is restored)."""
    runs = {r.name: r for r in plan(scale)}
    run = runs[name]
    d = run_dir(root, run)
    why = sizing_mismatch(root, run, scale)
    if why:
        raise ValueError(f"{d} was made with other sizes: {why}; move it away or pass the matching --scale")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "lock"), "w") as f:
        f.write(str(os.getpid()))
    try:
        sys.path.insert(0, HERE)
        import ilif_cifar

        argv = train_argv(run, root, scale)
        t0 = time.time()
        if stage == "test":
            # the finished run once more: --resume restores the last checkpoint and trains
            # nothing; no second spike analysis; the training run's config.json and
            # summary.json are kept, the test numbers added (and recorded in test.json)
            summary = _read_json(os.path.join(d, "summary.json")) or {}
            if "test_acc" in summary:
                return 0
            with open(os.path.join(d, "config.json")) as f:
                config_text = f.read()
            test_argv = list(argv)
            if "--test-subset" in test_argv:  # it cut the hold-out; the test set is evaluated whole
                i = test_argv.index("--test-subset")
                del test_argv[i : i + 2]
            if SCALES[scale]["test_stage_subset"]:
                test_argv += ["--test-subset", str(SCALES[scale]["test_stage_subset"])]
            test_argv += ["--analysis-batches", "0", "--test-after"]
            try:
                new = ilif_cifar.main(test_argv)
            finally:
                with open(os.path.join(d, "config.json"), "w") as f:
                    f.write(config_text)
            test = {k: new[k] for k in ("test_acc", "test_loss", "n_test", "test_set")}
            test["command"] = " ".join(["python", "experiments/ilif_cifar.py", *test_argv])
            test["epochs"] = new["epochs"]
            with open(os.path.join(d, "test.json"), "w") as f:
                json.dump(test, f, indent=1)
            summary.update({k: test[k] for k in ("test_acc", "test_loss", "n_test", "test_set")})
            with open(os.path.join(d, "summary.json"), "w") as f:
                json.dump(summary, f, indent=2)
            return 0
        if not _has_checkpoint(d):  # killed before the first checkpoint: start clean
            for f in ("metrics.jsonl", "metrics.csv", "final.json", "summary.json"):
                if os.path.exists(os.path.join(d, f)):
                    os.remove(os.path.join(d, f))
        rows = metrics_rows(d)
        summary = _read_json(os.path.join(d, "summary.json"))
        if len(rows) < SCALES[scale]["epochs"] or summary is None or summary.get("epochs") != SCALES[scale]["epochs"]:
            ilif_cifar.main(argv)
        gn = grad_norms(d, SCALES[scale]["gradnorm_n"])
        with open(os.path.join(d, "gradnorm.json"), "w") as f:
            json.dump(gn, f, indent=1)
        done = {
            "name": name,
            "groups": list(run.groups),
            "command": command_line(run, root, scale),
            "argv": argv,
            "seconds_this_session": time.time() - t0,
            "finished": time.strftime("%FT%T%z"),
            "checkpoints": os.path.join(d, "checkpoints"),
            "metrics": os.path.join(d, "metrics.jsonl"),
        }
        with open(os.path.join(d, "done.json"), "w") as f:
            json.dump(done, f, indent=1)
        return 0
    finally:
        if os.path.exists(os.path.join(d, "lock")):
            os.remove(os.path.join(d, "lock"))


# --------------------------------------------------------------------------- the queue


def _select(runs: list[Run], only: str | None) -> list[Run]:
    if not only:
        return runs
    pats = only.split(",")
    return [r for r in runs if any(fnmatch.fnmatch(r.name, p) or p in r.groups for p in pats)]


def _child_env() -> dict:
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        env["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def execute(
    root: str,
    runs: list[Run],
    *,
    scale: str,
    jobs: int,
    stage: str = "train",
    pin: bool = True,
    poll: float = 2.0,
    log=print,
    job_argv=None,
) -> dict[str, int]:
    """Run ``runs`` (skipping finished ones) ``jobs`` at a time; returns ``{name: returncode}``.
    ``job_argv(run) -> argv`` replaces the ``_job`` process (tests)."""
    os.makedirs(root, exist_ok=True)
    if stage == "test":
        todo = [
            r
            for r in runs
            if "compare" in r.groups
            and status(root, r) == "done"
            and "test_acc" not in (_read_json(os.path.join(run_dir(root, r), "summary.json")) or {})
        ]
    else:
        todo = [
            r
            for r in runs
            if status(root, r) in ("todo", "partial") or (status(root, r) == "done" and sizing_mismatch(root, r, scale))
        ]
    log(f"{len(todo)} runs to do ({stage}), {jobs} at a time")
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus, pin = [], False
    running: dict[int, tuple[subprocess.Popen, Run, object]] = {}  # slot -> process
    codes: dict[str, int] = {}

    def stop(signum, frame):  # a killed runner takes its runs with it (they resume next time)
        for p, _, _ in running.values():
            p.terminate()
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, stop)
    try:
        while todo or running:
            limit = jobs
            jf = os.path.join(root, "JOBS")
            if os.path.exists(jf):
                try:
                    with open(jf) as f:
                        limit = int(f.read().strip() or jobs)
                except ValueError:
                    pass
            while todo and len(running) < limit:
                run = todo.pop(0)
                if status(root, run) == "running":
                    log(f"skip  {run.name} (held by another process)")
                    continue
                why = sizing_mismatch(root, run, scale)
                if why:
                    log(f"skip  {run.name} (made with other sizes: {why})")
                    codes[run.name] = 2
                    continue
                slot = next(i for i in range(len(running) + 1) if i not in running)
                d = run_dir(root, run)
                os.makedirs(d, exist_ok=True)
                logf = open(os.path.join(d, "log.txt"), "a")
                cmd = [sys.executable, os.path.abspath(__file__), "--scale", scale, "_job", root, run.name,
                       "--stage", stage]  # fmt: skip
                if job_argv is not None:
                    cmd = job_argv(run)
                cpu = cpus[slot % len(cpus)] if pin and cpus else None
                logf.write(f"=== {time.strftime('%FT%T')} {stage} {' '.join(cmd)} (cpu {cpu})\n")
                logf.flush()
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=_child_env(),
                                        cwd=REPO)  # fmt: skip
                if cpu is not None:  # pinned after the spawn (no preexec_fn: no fork of this threaded process)
                    try:
                        os.sched_setaffinity(proc.pid, {cpu})
                    except (ProcessLookupError, OSError):  # already gone: its return code tells
                        pass
                running[slot] = (proc, run, logf)
                log(f"start {run.name} [{stage}] cpu {cpu} {time.strftime('%H:%M:%S')}")
            time.sleep(poll if running else 0)
            for slot, (proc, run, logf) in list(running.items()):
                if proc.poll() is not None:
                    del running[slot]
                    logf.close()
                    codes[run.name] = proc.returncode
                    log(f"done  {run.name} rc={proc.returncode} {time.strftime('%H:%M:%S')}")
    finally:
        signal.signal(signal.SIGTERM, old)
    return codes


# --------------------------------------------------------------------------- the report


def mean_std(values) -> tuple[float, float, int]:
    """``(mean, sample std (ddof 1; nan for one value), n)``."""
    v = np.asarray([x for x in values if x is not None], float)
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def fmt(ms: tuple[float, float, int], scale: float = 1.0, digits: int = 2) -> str:
    m, s, n = ms
    if n == 0:
        return "—"
    out = f"{m * scale:.{digits}f}"
    return out + (f" ± {s * scale:.{digits}f}" if n > 1 else "")


def load_run(root: str, run: Run) -> dict | None:
    """The numbers of a finished run (``None`` if it is not finished)."""
    d = run_dir(root, run)
    if status(root, run) != "done":
        return None
    summary = _read_json(os.path.join(d, "summary.json")) or {}
    ana = summary.get("analysis", {})
    full = _read_json(os.path.join(d, "analysis.json")) or {}
    spikes = (full.get(full.get("labels", ["run"])[0]) or {}).get("spikes") or {}
    layers = spikes.get("layers", [])
    gn = _read_json(os.path.join(d, "gradnorm.json")) or {}
    per_step = None
    if layers:
        per_step = np.sum([lay["counts_per_step"] for lay in layers], axis=0).tolist()
    return {
        "holdout_acc": summary.get("eval_acc"),
        "test_acc": summary.get("test_acc"),
        "firing_rate": ana.get("firing_rate"),
        "over_half": ana.get("over_half"),
        "firing_rates": ana.get("firing_rates"),
        "ac_M": ana.get("ac_M"),
        "mac_M": ana.get("mac_M"),
        "energy_uJ": ana.get("energy_uJ"),
        "energy_paper_uJ": ana.get("energy_paper_uJ"),
        "counts_per_step": [lay["counts_per_step"] for lay in layers] or None,
        "spikes_per_step": per_step,
        "grad_first_init": (gn.get("init") or {}).get("first_layer"),
        "grad_first_final": (gn.get("final") or {}).get("first_layer"),
        "epochs": summary.get("epochs"),
        "dir": d,
    }


SCALAR_KEYS = ("holdout_acc", "test_acc", "firing_rate", "over_half", "ac_M", "mac_M", "energy_uJ",
               "energy_paper_uJ", "grad_first_init", "grad_first_final")  # fmt: skip


def aggregate(root: str, runs: list[Run]) -> dict[tuple[str, str, float], dict]:
    """Per configuration ``(neuron, dataset, γ)``: ``{key: (mean, std, n)}`` of the scalar
    numbers, the per-layer firing rates and spike counts per step (means over seeds), the
    seeds that finished and their run directories."""
    by: dict[tuple, list[tuple[Run, dict]]] = {}
    for r in runs:
        got = load_run(root, r)
        if got is not None:
            by.setdefault(r.config, []).append((r, got))
    out = {}
    for cfg, items in by.items():
        vals = [g for _, g in items]
        agg = {k: mean_std([v[k] for v in vals]) for k in SCALAR_KEYS}
        for k in ("firing_rates", "spikes_per_step"):
            arrs = [v[k] for v in vals if v[k] is not None]
            agg[k] = (np.mean(arrs, axis=0).tolist(), np.std(arrs, axis=0, ddof=1).tolist() if len(arrs) > 1
                      else None) if arrs else None  # fmt: skip
        cps = [v["counts_per_step"] for v in vals if v["counts_per_step"] is not None]
        agg["counts_per_step"] = np.mean(cps, axis=0).tolist() if cps else None
        agg["seeds"] = [r.seed for r, _ in items]
        agg["dirs"] = [g["dir"] for _, g in items]
        out[cfg] = agg
    return out


def compare_table(agg: dict, runs: list[Run], dataset: str) -> list[str]:
    neurons = [n for n in NEURONS if any(r.neuron == n and r.dataset == dataset and "compare" in r.groups
                                         for r in runs)]  # fmt: skip
    lines = [
        "| neuron | hold-out acc (%) | test acc (%) | firing rate (%) | > T/2 share (%) | ACs (M) | MACs (M) "
        "| energy (µJ) | energy, paper conv. (µJ) | ‖∂L/∂W₁‖ final | n |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in neurons:
        a = agg.get((n, dataset, 1.0))
        if a is None:
            lines.append(f"| {NEURONS[n][1]} |" + " — |" * 9 + " 0 |")
            continue
        lines.append(
            f"| {NEURONS[n][1]} | {fmt(a['holdout_acc'], 100)} | {fmt(a['test_acc'], 100)} | "
            f"{fmt(a['firing_rate'], 100)} | {fmt(a['over_half'], 100)} | {fmt(a['ac_M'], 1, 3)} | "
            f"{fmt(a['mac_M'], 1, 3)} | {fmt(a['energy_uJ'], 1, 3)} | {fmt(a['energy_paper_uJ'], 1, 3)} | "
            f"{fmt(a['grad_first_final'], 1, 4)} | {a['holdout_acc'][2]} |"
        )
    return lines


def layer_table(agg: dict, dataset: str, neurons=("lif", "ilif", "clif")) -> list[str]:
    have = [n for n in neurons if (agg.get((n, dataset, 1.0)) or {}).get("firing_rates")]
    if not have:
        return []
    depth = max(len(agg[(n, dataset, 1.0)]["firing_rates"][0]) for n in have)
    lines = ["| layer | " + " | ".join(f"{NEURONS[n][1]} rate (%)" for n in have) + " |", "|---|" + "---|" * len(have)]
    for i in range(depth):
        cells = []
        for n in have:
            m, s = agg[(n, dataset, 1.0)]["firing_rates"]
            cells.append(f"{100 * m[i]:.2f}" + (f" ± {100 * s[i]:.2f}" if s is not None else ""))
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    return lines


def step_table(agg: dict, dataset: str, neurons=("lif", "ilif", "clif")) -> list[str]:
    have = [n for n in neurons if (agg.get((n, dataset, 1.0)) or {}).get("spikes_per_step")]
    if not have:
        return []
    T = len(agg[(have[0], dataset, 1.0)]["spikes_per_step"][0])
    lines = ["| neuron | " + " | ".join(f"t = {t + 1}" for t in range(T)) + " |", "|---|" + "---|" * T]
    for n in have:
        m, _ = agg[(n, dataset, 1.0)]["spikes_per_step"]
        lines.append(f"| {NEURONS[n][1]} | " + " | ".join(f"{v:.0f}" for v in m) + " |")
    return lines


def gamma_table(agg: dict, runs: list[Run]) -> list[str]:
    g_runs = [r for r in runs if "gamma" in r.groups]
    if not g_runs:
        return []
    neurons = list(dict.fromkeys(r.neuron for r in g_runs))
    ds = g_runs[0].dataset
    gammas = sorted({r.gamma for r in g_runs})
    head = []
    for n in neurons:
        lab = NEURONS[n][1]
        head += [f"{lab} acc (%)", f"{lab} rate (%)", f"{lab} ‖∂L/∂W₁‖ init", f"{lab} ‖∂L/∂W₁‖ final"]
    lines = ["| γ | " + " | ".join(head) + " | n |", "|---|" + "---|" * (len(head) + 1)]
    for g in gammas:
        cells, ns = [], []
        for n in neurons:
            a = agg.get((n, ds, g))
            if a is None:
                cells += ["—"] * 4
                ns.append("0")
                continue
            cells += [fmt(a["holdout_acc"], 100), fmt(a["firing_rate"], 100), fmt(a["grad_first_init"], 1, 4),
                      fmt(a["grad_first_final"], 1, 4)]  # fmt: skip
            ns.append(str(a["holdout_acc"][2]))
        lines.append(f"| {g:g} | " + " | ".join(cells) + f" | {'/'.join(ns)} |")
    return lines


def plots(agg: dict, runs: list[Run], out: str) -> list[str]:
    """The study's PNGs (γ sweep, gradient vs γ, per-layer rates and spikes per step), drawn by :mod:`snnjax.viz`."""
    from snnjax import viz

    def save(fig, name):
        paths.append(os.path.join(out, name))
        fig.savefig(paths[-1], dpi=110)

    paths = []
    g_runs = [r for r in runs if "gamma" in r.groups]
    if any(r.config in agg for r in g_runs):
        ds = g_runs[0].dataset
        neurons = list(dict.fromkeys(r.neuron for r in g_runs))
        gammas = sorted({r.gamma for r in g_runs})

        def column(n, key, i, scale=1.0):
            # mean (i = 0) or std (i = 1, 0 for a single seed) over seeds; NaN where the run is missing
            vals = []
            for g in gammas:
                a = (agg.get((n, ds, g)) or {}).get(key)
                vals.append(np.nan if not a or not a[2] else scale * (a[i] if i == 0 or a[2] > 1 else 0.0))
            return vals

        acc, rate = "hold-out accuracy (%)", "firing rate (%)"
        panels = {acc: {NEURONS[n][1]: column(n, "holdout_acc", 0, 100) for n in neurons},
                  rate: {NEURONS[n][1]: column(n, "firing_rate", 0, 100) for n in neurons}}  # fmt: skip
        errors = {acc: {NEURONS[n][1]: column(n, "holdout_acc", 1, 100) for n in neurons},
                  rate: {NEURONS[n][1]: column(n, "firing_rate", 1, 100) for n in neurons}}  # fmt: skip
        save(viz.sweep(gammas, panels, errors=errors, xlabel="rectangle surrogate width γ",
                       title=f"{ds}: accuracy and firing rate vs γ"), "gamma_sweep.png")  # fmt: skip

        grad = "‖∂L/∂W‖ of the first layer"
        series, errs, styles = {}, {}, {}
        for n in neurons:
            for key, style in (("grad_first_init", "--"), ("grad_first_final", "-")):
                label = f"{NEURONS[n][1]} ({key.rsplit('_', 1)[1]})"
                series[label], errs[label], styles[label] = column(n, key, 0), column(n, key, 1), style
        save(viz.sweep(gammas, {grad: series}, errors={grad: errs}, styles=styles, log_y=[grad],
                       xlabel="rectangle surrogate width γ", title=f"{ds}: gradient reaching the first layer"),
             "gradnorm_vs_gamma.png")  # fmt: skip

    for ds in dict.fromkeys(r.dataset for r in runs if "compare" in r.groups):
        have = [n for n in NEURONS if (agg.get((n, ds, 1.0)) or {}).get("firing_rates")]
        if not have:
            continue
        rates = {NEURONS[n][1]: 100 * np.asarray(agg[(n, ds, 1.0)]["firing_rates"][0]) for n in have}
        rate_err = {NEURONS[n][1]: 100 * np.asarray(agg[(n, ds, 1.0)]["firing_rates"][1] if
                    agg[(n, ds, 1.0)]["firing_rates"][1] is not None else np.zeros(len(rates[NEURONS[n][1]])))
                    for n in have}  # fmt: skip
        save(
            viz.firing_rates(rates, errors=rate_err, ylabel="firing rate (%)", title=f"{ds}: firing rate per layer"),
            f"layer_rates_{ds}.png",
        )
        steps = {NEURONS[n][1]: np.asarray(agg[(n, ds, 1.0)]["spikes_per_step"][0]) for n in have}
        step_err = {k: np.zeros_like(v) for k, v in steps.items()}
        for n in have:
            if agg[(n, ds, 1.0)]["spikes_per_step"][1] is not None:
                step_err[NEURONS[n][1]] = np.asarray(agg[(n, ds, 1.0)]["spikes_per_step"][1])
        save(viz.spike_counts(steps, errors=step_err, ylabel="spikes per image (all layers)",
                              title=f"{ds}: spikes per time step"), f"spikes_per_step_{ds}.png")  # fmt: skip
    return paths


def report(root: str, runs: list[Run], out: str) -> str:
    """Write ``tables.json``, ``report.md`` and the PNGs into ``out``; return the Markdown."""
    os.makedirs(out, exist_ok=True)
    agg = aggregate(root, runs)
    n_done = sum(len(a["seeds"]) for a in agg.values())
    md = [f"Runs finished: {n_done} of {len(runs)} (`{root}`). Mean ± sample std (ddof 1) over seeds; "
          "accuracy on the fixed 10 % hold-out unless the column says test; spike statistics and "
          "energy on the first hold-out batches; n = seeds finished.", ""]  # fmt: skip
    for ds in dict.fromkeys(r.dataset for r in runs if "compare" in r.groups):
        md += [f"### Comparison, {ds} (γ = 1)", "", *compare_table(agg, runs, ds), ""]
        lt = layer_table(agg, ds)
        if lt:
            md += [f"Firing rate per layer, {ds}:", "", *lt, ""]
        st = step_table(agg, ds)
        if st:
            md += [f"Spikes per image at each time step (all layers), {ds}:", "", *st, ""]
    gt = gamma_table(agg, runs)
    if gt:
        md += ["### γ sweep", "", *gt, ""]
    try:
        pngs = plots(agg, runs, out)
    except ImportError:
        pngs = []
    md += [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in pngs]
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    tables = {"|".join([n, d, f"{g:g}"]): a for (n, d, g), a in agg.items()}
    with open(os.path.join(out, "tables.json"), "w") as f:
        json.dump(tables, f, indent=1)
    return text


# --------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="full")
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("plan", help="print the run list (name, groups, status if --root, command)")
    sp.add_argument("--root", default="runs/ilif_study")
    sp.add_argument("--only", default=None)
    for name in ("run", "test"):
        sp = sub.add_parser(name, help="train the queue" if name == "run" else "the comparison runs on the test set")
        sp.add_argument("root")
        sp.add_argument("--jobs", type=int, default=2)
        sp.add_argument(
            "--only", default=None, help="comma-separated run-name patterns (fnmatch) or group names (compare, gamma)"
        )
        sp.add_argument("--no-pin", action="store_true", help="do not pin each run to one core")
    sp = sub.add_parser("report")
    sp.add_argument("root")
    sp.add_argument("--out", default=None, help="tables and PNGs (default ROOT/report)")
    sp.add_argument("--only", default=None)
    sp = sub.add_parser("_job")
    sp.add_argument("root")
    sp.add_argument("name")
    sp.add_argument("--stage", choices=("train", "test"), default="train")
    a = p.parse_args(argv)
    runs = _select(plan(a.scale), getattr(a, "only", None))
    if a.cmd == "plan":
        for r in runs:
            st = status(a.root, r) if os.path.isdir(a.root) else "todo"
            print(f"{r.name}\t{','.join(r.groups)}\t{st}\t{command_line(r, a.root, a.scale)}")
        print(f"# {len(runs)} runs, scale {a.scale}")
        return 0
    if a.cmd in ("run", "test"):
        codes = execute(a.root, runs, scale=a.scale, jobs=a.jobs, stage="train" if a.cmd == "run" else "test",
                        pin=not a.no_pin)  # fmt: skip
        return int(any(codes.values()))
    if a.cmd == "report":
        print(report(a.root, runs, a.out or os.path.join(a.root, "report")))
        return 0
    return job(a.root, a.name, a.scale, a.stage)


if __name__ == "__main__":
    sys.exit(main())
