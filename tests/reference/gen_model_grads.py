#!/usr/bin/python3
"""gen_model_grads.py — PyTorch reference for the backward pass of models/ (tests/test_models_grads.cpp).

Tiny T5 and LLaMA forward passes written in plain torch, following the transformers 4.30 modelling math
(T5: RMSNorm without mean, unscaled scores + relative position bias shared by the stack's blocks,
relu / gated gelu_new FFN, tied-embedding rescale; LLaMA: RMSNorm, rotate-half RoPE, grouped-query
attention, clamped causal + padding mask with left padding, SwiGLU). Each case is written as a HF-style
directory under tests/fixtures/models/<case>/: config.json, model.safetensors (backbone + LoRA tensors
named like the official SAPT code, "<attention>.lora_q.lora_A"), io.safetensors (inputs, logits, loss,
and the gradient of the loss w.r.t. every trainable tensor as grad.<name>). Also a table of T5 relative
position buckets. Run: /usr/bin/python3 tests/reference/gen_model_grads.py (torch 1.13, CPU, float32).
"""
import json
import math
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
MIN = torch.finfo(torch.float32).min


def save_safetensors(path, tensors):
    """The safetensors layout by hand (no safetensors package here): sorted names, contiguous data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_case(name, config, weights, io):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    save_safetensors(os.path.join(d, "model.safetensors"), weights)
    save_safetensors(os.path.join(d, "io.safetensors"), io)


def rms_norm(x, w, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def lora_delta(x, W, module, proj):
    """s * (x A^T) B^T of the LoRA named like the official code, or 0 when the case has none."""
    a = W.get(module + ".lora_" + proj + ".lora_A")
    if a is None:
        return 0.0
    return 2.0 * (x @ a.t()) @ W[module + ".lora_" + proj + ".lora_B"].t()


# ---- T5 ------------------------------------------------------------------------------------------------

def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """transformers 4.30 T5Attention._relative_position_bucket."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


def t5_bias(table, Tq, Tk, bidirectional, c):
    rel = torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]
    b = t5_bucket(rel, bidirectional, c["relative_attention_num_buckets"], c["relative_attention_max_distance"])
    return table[b].permute(2, 0, 1).unsqueeze(0)  # (1, H, Tq, Tk)


def t5_attention(W, module, x, kv, bias_plus_mask, c):
    B, Tq, _ = x.shape
    Tk = kv.shape[1]
    H, D = c["num_heads"], c["d_kv"]
    q = x @ W[module + ".q.weight"].t() + lora_delta(x, W, module, "q")
    k = kv @ W[module + ".k.weight"].t()
    v = kv @ W[module + ".v.weight"].t() + lora_delta(kv, W, module, "v")
    q, k, v = (t.view(B, -1, H, D).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(3, 2) + bias_plus_mask  # no 1/sqrt(D) in T5
    probs = torch.softmax(scores.float(), dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(B, Tq, H * D)
    return out @ W[module + ".o.weight"].t()


def t5_ffn(W, module, x, c):
    if c["feed_forward_proj"] == "gated-gelu":
        h = gelu_new(x @ W[module + ".wi_0.weight"].t()) * (x @ W[module + ".wi_1.weight"].t())
    else:
        h = torch.relu(x @ W[module + ".wi.weight"].t())
    return h @ W[module + ".wo.weight"].t()


def t5_forward(W, c, ids, mask, labels):
    eps = c["layer_norm_epsilon"]
    shared = W["shared.weight"]
    B, Ts = ids.shape
    Tt = labels.shape[1]
    dec_ids = torch.cat([torch.zeros(B, 1, dtype=torch.long), labels[:, :-1].long()], 1)
    dec_ids = dec_ids.masked_fill(dec_ids == -100, 0)
    enc_mask = (1.0 - mask[:, None, None, :].float()) * MIN
    h = shared[ids.long()]
    bias = t5_bias(W["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], Ts, Ts, True, c) + enc_mask
    for i in range(c["num_layers"]):
        p = "encoder.block.%d" % i
        h = h + t5_attention(W, p + ".layer.0.SelfAttention", rms_norm(h, W[p + ".layer.0.layer_norm.weight"], eps),
                             rms_norm(h, W[p + ".layer.0.layer_norm.weight"], eps), bias, c)
        h = h + t5_ffn(W, p + ".layer.1.DenseReluDense", rms_norm(h, W[p + ".layer.1.layer_norm.weight"], eps), c)
    enc = rms_norm(h, W["encoder.final_layer_norm.weight"], eps)

    causal = torch.tril(torch.ones(Tt, Tt))
    dec_mask = (1.0 - causal[None, None]) * MIN
    h = shared[dec_ids]
    bias = t5_bias(W["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], Tt, Tt, False, c) + dec_mask
    for i in range(c["num_decoder_layers"]):
        p = "decoder.block.%d" % i
        x = rms_norm(h, W[p + ".layer.0.layer_norm.weight"], eps)
        h = h + t5_attention(W, p + ".layer.0.SelfAttention", x, x, bias, c)
        x = rms_norm(h, W[p + ".layer.1.layer_norm.weight"], eps)
        h = h + t5_attention(W, p + ".layer.1.EncDecAttention", x, enc, enc_mask, c)
        h = h + t5_ffn(W, p + ".layer.2.DenseReluDense", rms_norm(h, W[p + ".layer.2.layer_norm.weight"], eps), c)
    h = rms_norm(h, W["decoder.final_layer_norm.weight"], eps)
    if c["tie_word_embeddings"]:
        logits = (h * c["d_model"] ** -0.5) @ shared.t()
    else:
        logits = h @ W["lm_head.weight"].t()
    loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.long().view(-1), ignore_index=-100)
    return logits, loss


def t5_weights(c, g, with_lora):
    C, H, D, F, V = c["d_model"], c["num_heads"], c["d_kv"], c["d_ff"], c["vocab_size"]
    W = {}
    rnd = lambda *shape: torch.randn(*shape, generator=g) * 0.3
    gain = lambda: 1.0 + 0.1 * torch.randn(C, generator=g)
    W["shared.weight"] = torch.randn(V, C, generator=g)
    if not c["tie_word_embeddings"]:
        W["lm_head.weight"] = rnd(V, C)
    for stack, n in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        W[stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = rnd(c["relative_attention_num_buckets"], H)
        attns = ["layer.0.SelfAttention"] + (["layer.1.EncDecAttention"] if stack == "decoder" else [])
        ffn_layer = "layer.2" if stack == "decoder" else "layer.1"
        for i in range(n):
            p = "%s.block.%d." % (stack, i)
            for a in attns:
                for w in "qkv":
                    W[p + a + "." + w + ".weight"] = rnd(H * D, C)
                W[p + a + ".o.weight"] = rnd(C, H * D)
                if with_lora:
                    for proj in "qv":
                        W[p + a + ".lora_" + proj + ".lora_A"] = rnd(2, C)
                        W[p + a + ".lora_" + proj + ".lora_B"] = rnd(H * D, 2)
            for j in range(len(attns)):
                W[p + "layer.%d.layer_norm.weight" % j] = gain()
            if c["feed_forward_proj"] == "gated-gelu":
                W[p + ffn_layer + ".DenseReluDense.wi_0.weight"] = rnd(F, C)
                W[p + ffn_layer + ".DenseReluDense.wi_1.weight"] = rnd(F, C)
            else:
                W[p + ffn_layer + ".DenseReluDense.wi.weight"] = rnd(F, C)
            W[p + ffn_layer + ".DenseReluDense.wo.weight"] = rnd(C, F)
            W[p + ffn_layer + ".layer_norm.weight"] = gain()
        W[stack + ".final_layer_norm.weight"] = gain()
    return W


def t5_case(name, c, trainable, seed):
    g = torch.Generator().manual_seed(seed)
    W = t5_weights(c, g, trainable == "lora")
    ids = torch.randint(2, c["vocab_size"], (2, 9), generator=g, dtype=torch.int32)
    mask = torch.ones(2, 9, dtype=torch.int32)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    labels = torch.randint(2, c["vocab_size"], (2, 6), generator=g, dtype=torch.int32)
    labels[1, 4:] = -100
    for n, t in W.items():
        t.requires_grad_(trainable == "full" or ".lora_" in n)
    logits, loss = t5_forward(W, c, ids, mask, labels)
    loss.backward()
    io = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits, "loss": loss.reshape(1)}
    for n, t in W.items():
        if t.requires_grad:
            io["grad." + n] = t.grad
    write_case(name, dict(c, model_type="t5"), W, io)


# ---- LLaMA ---------------------------------------------------------------------------------------------

def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def llama_forward(W, c, ids, mask, labels):
    B, T = ids.shape
    C, H, Hkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    D = C // H
    eps = c["rms_norm_eps"]
    inv_freq = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    freqs = torch.einsum("i,j->ij", torch.arange(T).float(), inv_freq)  # training positions 0..T-1
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    causal = torch.full((T, T), MIN).triu(1)[None, None]
    padding = (1.0 - mask[:, None, None, :].float()) * MIN
    full_mask = causal + padding  # two minima give -inf, clamped below as 4.30 does
    h = W["model.embed_tokens.weight"][ids.long()]
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        a = p + "self_attn"
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        q = x @ W[a + ".q_proj.weight"].t() + lora_delta(x, W, a, "q")
        k = x @ W[a + ".k_proj.weight"].t()
        v = x @ W[a + ".v_proj.weight"].t() + lora_delta(x, W, a, "v")
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, Hkv, D).transpose(1, 2)
        v = v.view(B, T, Hkv, D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        scores = q @ k.transpose(2, 3) / math.sqrt(D) + full_mask
        scores = torch.max(scores, torch.tensor(MIN))
        probs = torch.softmax(scores.float(), dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(B, T, C)
        h = h + out @ W[a + ".o_proj.weight"].t()
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        m = torch.nn.functional.silu(x @ W[p + "mlp.gate_proj.weight"].t()) * (x @ W[p + "mlp.up_proj.weight"].t())
        h = h + m @ W[p + "mlp.down_proj.weight"].t()
    h = rms_norm(h, W["model.norm.weight"], eps)
    logits = h @ W["lm_head.weight"].t()
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                             labels[:, 1:].long().reshape(-1), ignore_index=-100)
    return logits, loss


def llama_case(name, c, trainable, seed):
    g = torch.Generator().manual_seed(seed)
    C, H, Hkv, F, V = (c[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                        "intermediate_size", "vocab_size"))
    D = C // H
    rnd = lambda *shape: torch.randn(*shape, generator=g) * 0.3
    gain = lambda: 1.0 + 0.1 * torch.randn(C, generator=g)
    W = {"model.embed_tokens.weight": torch.randn(V, C, generator=g), "lm_head.weight": rnd(V, C), "model.norm.weight": gain()}
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = gain()
        W[p + "post_attention_layernorm.weight"] = gain()
        W[p + "self_attn.q_proj.weight"] = rnd(H * D, C)
        W[p + "self_attn.k_proj.weight"] = rnd(Hkv * D, C)
        W[p + "self_attn.v_proj.weight"] = rnd(Hkv * D, C)
        W[p + "self_attn.o_proj.weight"] = rnd(C, H * D)
        W[p + "mlp.gate_proj.weight"] = rnd(F, C)
        W[p + "mlp.up_proj.weight"] = rnd(F, C)
        W[p + "mlp.down_proj.weight"] = rnd(C, F)
        if trainable == "lora":
            W[p + "self_attn.lora_q.lora_A"] = rnd(2, C)
            W[p + "self_attn.lora_q.lora_B"] = rnd(H * D, 2)
            W[p + "self_attn.lora_v.lora_A"] = rnd(2, C)
            W[p + "self_attn.lora_v.lora_B"] = rnd(Hkv * D, 2)
    # Left padding with pad id 1, as the official SAPT collator; labels only on the answer.
    ids = torch.randint(3, V, (2, 10), generator=g, dtype=torch.int32)
    mask = torch.ones(2, 10, dtype=torch.int32)
    ids[1, :3] = 1
    mask[1, :3] = 0
    labels = ids.clone()
    labels[:, :6] = -100
    for n, t in W.items():
        t.requires_grad_(trainable == "full" or ".lora_" in n)
    logits, loss = llama_forward(W, c, ids, mask, labels)
    loss.backward()
    io = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits, "loss": loss.reshape(1)}
    for n, t in W.items():
        if t.requires_grad:
            io["grad." + n] = t.grad
    write_case(name, dict(c, model_type="llama"), W, io)


def bucket_table():
    rel = torch.arange(-300, 301)
    io = {"relative_position": rel.to(torch.int32)}
    for nb, md in ((32, 128), (8, 16)):
        for bidirectional in (True, False):
            key = "buckets_%d_%d_%s" % (nb, md, "bidirectional" if bidirectional else "causal")
            io[key] = t5_bucket(rel, bidirectional, nb, md).to(torch.int32)
    os.makedirs(OUT, exist_ok=True)
    save_safetensors(os.path.join(OUT, "t5_buckets.safetensors"), io)


if __name__ == "__main__":
    torch.set_num_threads(1)
    t5_base = dict(d_model=16, d_kv=4, num_heads=4, d_ff=24, num_layers=2, num_decoder_layers=2, vocab_size=40,
                   relative_attention_num_buckets=8, relative_attention_max_distance=20, layer_norm_epsilon=1e-6,
                   dropout_rate=0.0)
    t5_case("t5_gated_untied_lora", dict(t5_base, feed_forward_proj="gated-gelu", tie_word_embeddings=False), "lora", 11)
    t5_case("t5_relu_tied_full", dict(t5_base, feed_forward_proj="relu", tie_word_embeddings=True), "full", 12)
    llama_base = dict(hidden_size=16, intermediate_size=40, num_attention_heads=4, num_key_value_heads=2,
                      num_hidden_layers=2, vocab_size=40, rms_norm_eps=1e-6, hidden_act="silu")
    llama_case("llama_gqa_lora", llama_base, "lora", 13)
    llama_case("llama_gqa_full", llama_base, "full", 14)
    bucket_table()
