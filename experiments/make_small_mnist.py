"""Build the small class-balanced MNIST subset shipped in experiments/data/mnist_small.

Draws ``--n-train`` images from the official MNIST training split and
``--n-test`` from the official test split (``t10k``), the same number per
class (when ``n`` is not a multiple of 10, classes 0, 1, ... get one extra
image each), chosen uniformly at random without replacement with
``np.random.default_rng(seed)``. The chosen images keep their original
relative order. The source files are verified against their ``SHA256SUMS``
first.

Output (in ``--out``): the four standard MNIST file names as gzip IDX files,
``train-indices-idx1-int.gz`` / ``t10k-indices-idx1-int.gz`` (int32 positions
of the chosen images in the official splits), and ``SHA256SUMS`` for all six.

    python experiments/make_small_mnist.py [--src DIR] [--out DIR] [--n-train 6000] [--n-test 1000] [--seed 0]

The default ``--src`` and ``--out`` are relative to the repository root;
paths given on the command line are relative to the current directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from snnjax import data

REPO = Path(__file__).resolve().parents[1]
NUM_CLASSES = 10


def balanced_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` examples, ``n // 10`` per class (+1 for the first ``n % 10`` classes)."""
    counts = np.full(NUM_CLASSES, n // NUM_CLASSES)
    counts[: n % NUM_CLASSES] += 1
    chosen = []
    for c in range(NUM_CLASSES):
        pool = np.flatnonzero(labels == c)
        if counts[c] > len(pool):
            raise ValueError(f"class {c} has only {len(pool)} examples, {counts[c]} requested")
        chosen.append(rng.choice(pool, size=counts[c], replace=False))
    return np.sort(np.concatenate(chosen))


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--src",
        type=Path,
        default=REPO.parent / "shared" / "data" / "mnist",
        help="official MNIST IDX directory with SHA256SUMS (default: <repo>/../shared/data/mnist)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "experiments" / "data" / "mnist_small",
        help="output directory (default: <repo>/experiments/data/mnist_small)",
    )
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("n_train", "n_test"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, n in (("train", args.n_train), ("test", args.n_test)):
        images, labels = data.load_mnist(args.src, split, verify=True)
        idx = balanced_subset(labels, n, rng)
        images_file, labels_file = data.mnist_files(split)
        indices_file = images_file.replace("images-idx3-ubyte", "indices-idx1-int")
        data.write_idx(args.out / images_file, images[idx])
        data.write_idx(args.out / labels_file, labels[idx])
        data.write_idx(args.out / indices_file, idx.astype(np.int32))
        written += [images_file, labels_file, indices_file]
        print(f"{split}: {len(idx)} of {len(labels)} images, per class {np.bincount(labels[idx]).tolist()}")
    data.write_sha256sums(args.out, written)
    data.verify_checksums(args.out)
    total = sum((args.out / f).stat().st_size for f in written + ["SHA256SUMS"])
    print(f"wrote {args.out} ({total} bytes)")
    return args.out


if __name__ == "__main__":
    main()
