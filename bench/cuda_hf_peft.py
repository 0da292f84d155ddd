"""cuda_hf_peft.py - the peer for bench/cuda_train_step.cpp: one LoRA training step with HF transformers +
PEFT on the GPU, at the same shapes and with the same useful-FLOPs formula, random weights, bf16.
  t5large : T5ForConditionalGeneration, d_model 1024, 24 + 24 layers, 16 heads of 64, gated-GELU d_ff 2816,
            vocab 32128; batch 16, source 512, target 50 (as kT5Large in cuda_train_step.cpp)
  llama7b : LlamaForCausalLM at LLaMA-2-7B widths (d 4096, 32 heads, SwiGLU 11008, vocab 32000) with only
            LLAMA_LAYERS of the 32 layers, so it fits beside the T5 run; batch 16 x 562 tokens (512 + 50)
LoRA r 8, alpha 32, dropout 0 on the query and value projections; AdamW (lr 3e-4) on the LoRA tensors.
Usage: python3 bench/cuda_hf_peft.py [t5large] [llama7b]   (default: both)
Prints one JSON line per shape on stdout, {"name", "tokens_per_s", "mfu"}, details on stderr. Records
nothing itself: bench/run_cuda.sh pairs these lines with ours and calls bench/record.

Useful FLOPs per step (the same formula as step_flops in cuda_train_step.cpp): each frozen weight matrix
costs 4 x params x rows it is applied to (2 forward + 2 for the activation gradient; no weight gradient),
each LoRA matrix 6 x params x rows (forward, activation gradient, weight gradient); attention scores and
element-wise work are left out. MFU = FLOPs / step time / 989e12 (H100 and H200 SXM dense bf16 peak).
"""
import json
import os
import sys
import time

import peft
import torch
import transformers

PEAK_BF16_FLOPS = 989e12
BATCH, SOURCE, TARGET = 16, 512, 50
LORA_RANK, LORA_ALPHA = 8, 32
LLAMA_LAYERS = int(os.environ.get("LLAMA_LAYERS", "4"))  # bench/run_cuda.sh passes the same to ours
WARMUP_STEPS, MEASURED_STEPS = 3, 10


def t5large():
    config = transformers.T5Config(d_model=1024, d_kv=64, d_ff=2816, num_layers=24, num_decoder_layers=24,
                                   num_heads=16, feed_forward_proj="gated-gelu", vocab_size=32128,
                                   dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = transformers.T5ForConditionalGeneration(config)
    batch = {
        "input_ids": torch.randint(0, config.vocab_size, (BATCH, SOURCE)),
        "attention_mask": torch.ones(BATCH, SOURCE, dtype=torch.long),
        "labels": torch.randint(0, config.vocab_size, (BATCH, TARGET)),
    }
    d, ff, layers = config.d_model, config.d_ff, config.num_layers
    n_src, n_tgt = BATCH * SOURCE, BATCH * TARGET
    gated_ffn = 3 * d * ff  # wi_0, wi_1, wo
    # encoder: q k v o + FFN on source rows; decoder: self q k v o, cross q o + FFN on target rows, cross k v
    # on the encoder's source rows; LM head on target rows.
    frozen = (layers * (n_src * (4 * d * d + gated_ffn) + n_tgt * (6 * d * d + gated_ffn) + n_src * 2 * d * d)
              + n_tgt * config.vocab_size * d)
    lora_per_row = 2 * LORA_RANK * d
    # q and v: encoder self (source, source), decoder self (target, target), cross (q target, v source)
    lora = layers * lora_per_row * (2 * n_src + 2 * n_tgt + n_tgt + n_src)
    return model, ["q", "v"], batch, BATCH * (SOURCE + TARGET), 4 * frozen + 6 * lora


def llama7b():
    config = transformers.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=LLAMA_LAYERS,
                                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                                      max_position_embeddings=4096)
    model = transformers.LlamaForCausalLM(config)
    T = SOURCE + TARGET
    ids = torch.randint(0, config.vocab_size, (BATCH, T))
    batch = {"input_ids": ids, "attention_mask": torch.ones(BATCH, T, dtype=torch.long), "labels": ids}
    d, ff, n = config.hidden_size, config.intermediate_size, BATCH * T
    frozen = n * (LLAMA_LAYERS * (4 * d * d + 3 * d * ff) + config.vocab_size * d)
    lora = n * LLAMA_LAYERS * 2 * (2 * LORA_RANK * d)
    return model, ["q_proj", "v_proj"], batch, n, 4 * frozen + 6 * lora


def measure(name, build):
    torch.manual_seed(0)
    with torch.device("cuda"):  # random init on the GPU: minutes less of CPU work, same model
        model, targets, batch, tokens, flops = build()
    model = model.to(dtype=torch.bfloat16)
    lora = peft.LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, target_modules=targets, lora_dropout=0.0)
    model = peft.get_peft_model(model, lora)
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=3e-4)
    batch = {key: value.cuda() for key, value in batch.items()}

    def step():
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(WARMUP_STEPS):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(MEASURED_STEPS):
        loss = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / MEASURED_STEPS
    mfu = flops / seconds / PEAK_BF16_FLOPS
    print(f"{name}: {torch.cuda.get_device_name()}, {sum(p.numel() for p in trained)} LoRA numbers, "
          f"loss {loss.item():.4f}, {seconds * 1e3:.1f} ms/step, {tokens / seconds:.0f} tokens/s, "
          f"{flops * 1e-12:.2f} TFLOP/step, MFU {mfu * 100:.1f}%, peak memory "
          f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB", file=sys.stderr)
    print(json.dumps({"name": name, "tokens_per_s": round(tokens / seconds, 1), "mfu": round(mfu, 4)}),
          flush=True)
    del model, optimizer, trained, batch
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def main():
    shapes = {"t5large": t5large, "llama7b": llama7b}
    wanted = sys.argv[1:] or list(shapes)
    for name in wanted:
        if name not in shapes:
            sys.exit(f"cuda_hf_peft.py: unknown shape {name!r} (expected one of {', '.join(shapes)})")
    if not torch.cuda.is_available():
        sys.exit("cuda_hf_peft.py: torch sees no CUDA device; nothing was measured")
    print(f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}",
          file=sys.stderr)
    for name in wanted:
        measure(name, shapes[name])


if __name__ == "__main__":
    main()
