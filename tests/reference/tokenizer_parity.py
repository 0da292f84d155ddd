#!/usr/bin/python3
"""tokenizer_parity.py — checks ./tokenize against Debian's spm_encode (sentencepiece 0.1.97) on every
input and instruction (Definition) string of shared/data/CL_Benchmark and shared/data/generated_data, for
T5's spiece.model and LLaMA-2's tokenizer.model (ids), then checks that our --decode of those ids equals
spm_decode's. spm_encode reads lines, so a string with newlines is compared line by line; a string counts
as a mismatch if any of its lines differs. Not part of `make test` (it takes about a minute).

usage: /usr/bin/python3 tests/reference/tokenizer_parity.py [path/to/tokenize] [shared dir]
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

tokenize = sys.argv[1] if len(sys.argv) > 1 else "./tokenize"
shared = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SAPT_SHARED", "../shared")
models = {
    "t5": os.path.join(shared, "tokenizers/t5/spiece.model"),
    "llama2": os.path.join(shared, "tokenizers/llama2/tokenizer.model"),
}

files = sorted(glob.glob(os.path.join(shared, "data/CL_Benchmark/**/*.json"), recursive=True) +
               glob.glob(os.path.join(shared, "data/generated_data/**/*.json"), recursive=True))
strings = []
for path in files:
    with open(path, encoding="utf-8") as f:
        task = json.load(f)
    if not isinstance(task, dict) or "Instances" not in task:
        continue  # labels.json, orders.json
    strings.extend(task.get("Definition", []))
    strings.extend(instance["input"] for instance in task["Instances"])

lines, owner = [], []  # owner[k] = index of the string line k came from
for index, s in enumerate(strings):
    for line in s.split("\n"):
        lines.append(line)
        owner.append(index)
print(f"{len(files)} files, {len(strings)} strings, {len(lines)} lines, "
      f"{sum(len(l.encode()) + 1 for l in lines) / 1e6:.1f} MB")

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    text_path = os.path.join(tmp, "lines.txt")
    with open(text_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    for name, model in models.items():
        def run(command, stdin_path):
            with open(stdin_path, "rb") as stdin:
                return subprocess.run(command, stdin=stdin, capture_output=True, check=True).stdout.decode(
                    "utf-8", "surrogateescape").split("\n")[:-1]
        ours = run([tokenize, "--model", model, "--ids"], text_path)
        theirs = run(["spm_encode", "--model", model, "--output_format=id"], text_path)
        assert len(ours) == len(theirs) == len(lines), (len(ours), len(theirs), len(lines))
        bad_lines = [k for k in range(len(lines)) if ours[k] != theirs[k]]
        bad_strings = sorted({owner[k] for k in bad_lines})
        print(f"{name}: encode ids: {len(strings)} strings, {len(bad_strings)} mismatching "
              f"({len(bad_lines)} of {len(lines)} lines)")
        for k in bad_lines[:5]:
            print(f"  line {k}: {lines[k][:120]!r}\n    ours  {ours[k][:200]}\n    spm   {theirs[k][:200]}")

        ids_path = os.path.join(tmp, name + ".ids")
        with open(ids_path, "w") as f:
            f.write("".join(line + "\n" for line in theirs))
        ours_text = run([tokenize, "--model", model, "--decode"], ids_path)
        theirs_text = run(["spm_decode", "--model", model, "--input_format=id"], ids_path)
        bad_decode = [k for k in range(len(lines)) if ours_text[k] != theirs_text[k]]
        print(f"{name}: decode(encode(x)) vs spm_decode: {len(bad_decode)} of {len(lines)} lines differ")
        for k in bad_decode[:5]:
            print(f"  line {k}: ours {ours_text[k][:120]!r}\n          spm  {theirs_text[k][:120]!r}")
        failures += len(bad_lines) + len(bad_decode)

print("PARITY OK" if failures == 0 else f"PARITY FAILED ({failures} differences)")
sys.exit(0 if failures == 0 else 1)
