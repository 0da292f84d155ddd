echo "train_emu_vs_cpu: not written yet"; exit 1
