#!/usr/bin/env bash
# Seconds per training step, spleeter-paddle / official Spleeter 2.4.2 (TensorFlow 2.12), on this
# machine, in one run: same 2stems U-Net, T=512, F=1024, batch 4, Adam 1e-4, same generated songs.
# Run from the project checkout, after the official peer's set-up (TensorFlow 2.12 + Spleeter 2.4.2
# from PyPI in $PEER_VENV, default ~/.cache/spleeter-official: ../shared/bench/peer_setup.sh):
#   bash benchmarks/train_vs_official.sh      # PY=python of the project's environment
#   STEPS=50 bash benchmarks/train_vs_official.sh   # ours over 50 steps: is the step time flat?
# Prints both step times, the ratio, our step times one by one, the CPU model and the load.
# Takes ~5 min on 2 cores. Run it on a quiet machine (check `uptime`): both sides suffer from load.
set -uo pipefail
PY=${PY:-python}
STEPS=${STEPS:-7}
PEER=${PEER_VENV:-$HOME/.cache/spleeter-official}
[ -x "$PEER/bin/spleeter" ] || { echo "no official peer: run bash ../shared/bench/peer_setup.sh"; exit 1; }
root=$(pwd); work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} GLOG_minloglevel=2
"$PY" -c "from spleeter_paddle.data import synthetic; synthetic.generate_musdb_tree('musdb', n_songs=4, duration_s=30, seed=1)" || exit 1
"$PY" "$root/downloadMusdb.py" --musdb-root musdb --is-wav -o dataset >prep.log 2>&1 && "$PY" "$root/preprocess.py" --validation-fraction 0 >>prep.log 2>&1 \
  && "$PY" "$root/run_scripts/run_spleeter.py" -m process_data >>prep.log 2>&1 || { tail -2 prep.log; echo "data preparation failed"; exit 1; }
"$PY" - <<'PY' || exit 1
import json, pathlib
songs = sorted(p for p in pathlib.Path("dataset/train").iterdir() if p.is_dir())
rows = ["mix_path,vocals_path,accompaniment_path,duration"] + [
    f"train/{s.name}/mixture.wav,train/{s.name}/vocals.wav,train/{s.name}/accompaniment.wav,30.0" for s in songs]
pathlib.Path("off").mkdir(); pathlib.Path("off/train.csv").write_text("\n".join(rows) + "\n")
pathlib.Path("off/validation.csv").write_text("\n".join(rows[:2]) + "\n")
w = str(pathlib.Path("off").resolve())
cfg = dict(train_csv=f"{w}/train.csv", validation_csv=f"{w}/validation.csv", model_dir=f"{w}/model", mix_name="mix",
           instrument_list=["vocals", "accompaniment"], sample_rate=44100, frame_length=4096, frame_step=1024, T=512,
           F=1024, n_channels=2, separation_exponent=2, mask_extension="zeros", learning_rate=1e-4, batch_size=4,
           training_cache=f"{w}/cache/training", validation_cache=f"{w}/cache/validation", train_max_steps=31,
           throttle_secs=100000, random_seed=0, save_checkpoints_steps=100000, save_summary_steps=100000,
           model={"type": "unet.unet", "params": {}}, n_chunks_per_song=2, chunk_duration=20.0)
json.dump(cfg, open("off/cfg.json", "w"))
PY
echo "official Spleeter: 31 steps (its rate is logged by TensorFlow) ..."
timeout 900 "$PEER/bin/spleeter" train --verbose -p off/cfg.json -d "$work/dataset" >off.log 2>&1
off=$(grep -oE "global_step/sec: [0-9.]+" off.log | tail -1 | awk '{print 1/$2}')
[ -n "$off" ] || { tail -3 off.log; echo "official training gave no rate"; exit 1; }
echo "spleeter-paddle: $STEPS steps (median from step 3) ..."
timeout $((300 + STEPS * 120)) "$PY" "$root/run_scripts/run_spleeter.py" -m fast_train -bs 4 --steps "$STEPS" -lm False --num-workers 0 --log-every 1 -o ours >ours.log 2>&1
ours=$(grep -oE "batch_cost: [0-9.]+" ours.log | tail -n +3 | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}')
[ -n "$ours" ] || { tail -3 ours.log; echo "our training gave no step time"; exit 1; }
"$PY" -c "
o, f = $ours, $off
print(f'training s/step (T=512, F=1024, batch 4): spleeter-paddle {o:.2f}, official Spleeter {f:.2f}, ratio {o/f:.2f}')"
echo "our steps (s): $(grep -oE "batch_cost: [0-9.]+" ours.log | awk '{printf "%.2f ", $2}')"
mkl=$("$PY" -c "import os, spleeter_paddle.runtime; print(os.environ.get('MKL_DEBUG_CPU_TYPE'))" 2>/dev/null)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), MKL_DEBUG_CPU_TYPE=$mkl"
