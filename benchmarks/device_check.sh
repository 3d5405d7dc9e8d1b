#!/usr/bin/env bash
# The GPU/TPU checks of issue #6 as one script, for a session that is lent an accelerator.
# Run from the repository root on the device machine:
#
#   bash benchmarks/device_check.sh OUT_DIR
#
# 1. tests/test_pallas.py (slow options included) with the *compiled* kernels (Triton on GPU,
#    Mosaic on TPU): every neuron and option against autodiff through lax.scan;
# 2. benchmarks/neuron_speed.py on the platform's shapes: scan, fused and pallas for LIF, ILIF,
#    CLIF and POLARA against the HBM floor, with peak memory (+ SpikingJelly / snnTorch LIF when importable);
# 3. benchmarks/train_speed.py: the POLARA-MNIST training step (+ peers when importable);
# 4. benchmarks/deep_train_speed.py: the ILIF ResNet-18 (T = 4) and POLARA ResNet-38 (T = 50)
#    training steps on synthetic CIFAR batches of 128, scan vs fused vs pallas, images/s and the
#    projected wall time of the full protocols (records stream out, so a timeout keeps what ran);
# 5. benchmarks/deep_memory.py: XLA's peak memory of the ResNet-38 T = 50 step with and without
#    block rematerialisation (on CPU XLA schedules the recomputation with the forward pass and
#    block remat saves nothing, benchmarks/RESULTS.md; does the GPU compiler keep it?).
#
# Peers are optional: wheels put in ./.whl (ignored by git) are installed to /tmp/site first, e.g.
#   pip download --no-deps --only-binary=:all: -d .whl spikingjelly==2.0.0 snntorch==1.0.0 loguru SciencePlots
# Each stage has its own time limit (9.25 minutes in all); results and logs go to OUT_DIR
# (10 files).
set -u
out=${1:?usage: device_check.sh OUT_DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if compgen -G ".whl/*.whl" > /dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
{
  date -u +%FT%TZ
  nvidia-smi -L 2>/dev/null
  $py -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
  git rev-parse HEAD 2>/dev/null
} 2>&1 | tee "$out/env.txt"

echo "== 1. Pallas kernels, compiled, vs lax.scan"
timeout 150 $py -m pytest -q -m "slow or not slow" -p no:cacheprovider tests/test_pallas.py \
  > "$out/pytest_pallas.log" 2>&1
echo "exit $?" >> "$out/pytest_pallas.log"
tail -n 25 "$out/pytest_pallas.log"

echo "== 2. neuron speed"
timeout 150 $py benchmarks/neuron_speed.py --peers --out "$out/neuron_speed.jsonl" > "$out/neuron_speed.log" 2>&1
echo "exit $?" >> "$out/neuron_speed.log"
grep '^|' "$out/neuron_speed.log" | head -n 60

echo "== 3. training step"
timeout 60 $py benchmarks/train_speed.py --neurons spytorch-lif polara-mask --backends fused auto \
  --repeats 5 --out "$out/train_speed.jsonl" > "$out/train_speed.log" 2>&1
echo "exit $?" >> "$out/train_speed.log"
tail -n 12 "$out/train_speed.log"

echo "== 4. deep networks: training step (ILIF ResNet-18 T=4, POLARA ResNet-38 T=50)"
timeout 120 $py benchmarks/deep_train_speed.py --batch 128 --backends fused pallas scan --repeats 3 \
  --out "$out/deep_train_speed.jsonl" > "$out/deep_train_speed.log" 2>&1
echo "exit $?" >> "$out/deep_train_speed.log"
grep '^|' "$out/deep_train_speed.log"

echo "== 5. deep networks: peak memory of the ResNet-38 T=50 step per remat policy (compiled, not run)"
timeout 75 $py benchmarks/deep_memory.py --models polara_resnet38 --policies none blocks neurons --dtypes bfloat16 \
  --batch 32 --out "$out/deep_memory.jsonl" > "$out/deep_memory.log" 2>&1
echo "exit $?" >> "$out/deep_memory.log"
grep '^|' "$out/deep_memory.log"
