#!/usr/bin/env bash
# Run the POLARA Table 1 (MNIST, Fashion-MNIST) and Table 2 (MNIST ablations) runs
# one after another, 40 epochs each, resuming any run that has checkpoints.
# Usage: bash experiments/run_polara_table.sh RESULTS_ROOT [extra args for polara_mnist.py]
set -euo pipefail
root=${1:?usage: run_polara_table.sh RESULTS_ROOT}
shift || true
py=${PYTHON:-python}
here=$(cd "$(dirname "$0")" && pwd)
run() {
  local name=$1; shift
  if [ -f "$root/$name/final.json" ] && [ "$(python3 -c "import json;print(json.load(open('$root/$name/final.json'))['epochs'])")" = "40" ]; then
    echo "skip $name (done)"; return
  fi
  echo "=== $name ($(date -u +%FT%TZ))"
  "$py" "$here/polara_mnist.py" --results-dir "$root/$name" --resume --no-progress "$@" "${EXTRA[@]}"
}
EXTRA=("$@")
run polara_mnist --neuron polara --dataset mnist
run lif_mnist --neuron spytorch-lif --dataset mnist
run polara_fashion --neuron polara --dataset fashion_mnist
run lif_fashion --neuron spytorch-lif --dataset fashion_mnist
for a in decay_amplification activation refractory threshold; do
  run "ablation_$a" --neuron polara --dataset mnist --ablation "$a"
done
