"""torch_t5.py - the peer for bench/models.cpp: the same T5-small-shaped model (random weights, relu FFN,
tied embeddings, relative position bias, LoRA rank 8 on q and v of every attention, frozen base) written
in plain PyTorch following the transformers 4.30 math, timed on (1) a training step (forward + backward of
the cross-entropy, gradients to the LoRA tensors only) and (2) greedy generation with a KV cache.
Usage: /usr/bin/python3 bench/torch_t5.py THREADS BATCH SOURCE_LEN TARGET_LEN NEW_TOKENS [f32|bf16]
bf16 runs both under torch.autocast("cpu", dtype=torch.bfloat16): matrix products in bf16 through oneDNN,
weights kept f32 and cast by autocast (pre-cast bf16 weights measured no faster).
Prints two figures, one per line: training tokens/s (batch * (source + target) per step) and generated
tokens/s (batch * new tokens). Best of 7 timed runs after one warm-up, as the C++ side. Records nothing.
"""
import contextlib
import math
import sys
import time

import torch

C, H, D, F, V, LAYERS, BUCKETS, MAX_DISTANCE, RANK = 512, 8, 64, 2048, 32128, 6, 32, 128, 8
MIN = torch.finfo(torch.float32).min


def bucket(rel, bidirectional):
    nb, out = BUCKETS, torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        out += (rel > 0).long() * nb
        n = rel.abs()
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    exact = nb // 2
    large = exact + (torch.log(n.float() / exact) / math.log(MAX_DISTANCE / exact) * (nb - exact)).long()
    return out + torch.where(n < exact, n, torch.min(large, torch.full_like(large, nb - 1)))


def position_bias(table, q_start, Tq, Tk, bidirectional):
    rel = torch.arange(Tk)[None, :] - torch.arange(q_start, q_start + Tq)[:, None]
    return table[bucket(rel, bidirectional)].permute(2, 0, 1).unsqueeze(0)


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


def make_model(g):
    w = lambda *s: torch.randn(*s, generator=g) * 0.05
    lora = lambda: [torch.randn(RANK, C, generator=g).mul_(0.05).requires_grad_(),
                    torch.randn(H * D, RANK, generator=g).mul_(0.05).requires_grad_()]
    attn = lambda: {"q": w(H * D, C), "k": w(H * D, C), "v": w(H * D, C), "o": w(C, H * D), "lq": lora(), "lv": lora()}
    block = lambda dec: {"n0": torch.ones(C), "sa": attn(), "n1": torch.ones(C), "ca": attn() if dec else None,
                         "n2": torch.ones(C), "wi": w(F, C), "wo": w(C, F)}
    return {"shared": torch.randn(V, C, generator=g), "enc_bias": w(BUCKETS, H), "dec_bias": w(BUCKETS, H),
            "enc": [block(False) for _ in range(LAYERS)], "dec": [block(True) for _ in range(LAYERS)],
            "enc_norm": torch.ones(C), "dec_norm": torch.ones(C)}


def lora_params(m):
    out = []
    for b in m["enc"] + m["dec"]:
        for a in (b["sa"], b["ca"]):
            if a is not None:
                out += a["lq"] + a["lv"]
    return out


def proj(x, a, which):
    y = x @ a[which].t()
    if which in ("q", "v"):
        A, B = a["l" + which]
        y = y + 2.0 * ((x @ A.t()) @ B.t())
    return y


def heads(x):
    return x.view(x.shape[0], -1, H, D).transpose(1, 2)


def attend(a, x, k, v, bias):
    q = heads(proj(x, a, "q"))
    p = torch.softmax((q @ k.transpose(3, 2) + bias).float(), dim=-1)
    return ((p @ v).transpose(1, 2).reshape(x.shape[0], -1, H * D)) @ a["o"].t()


def ffn(b, x):
    return torch.relu(x @ b["wi"].t()) @ b["wo"].t()


def encode(m, ids, mask):
    h = m["shared"][ids]
    key_mask = (1.0 - mask[:, None, None, :].float()) * MIN
    bias = position_bias(m["enc_bias"], 0, ids.shape[1], ids.shape[1], True) + key_mask
    for b in m["enc"]:
        x = rms(h, b["n0"])
        h = h + attend(b["sa"], x, heads(proj(x, b["sa"], "k")), heads(proj(x, b["sa"], "v")), bias)
        h = h + ffn(b, rms(h, b["n2"]))
    return rms(h, m["enc_norm"]), key_mask


def logits_of(m, h):
    return (rms(h, m["dec_norm"]) * C ** -0.5) @ m["shared"].t()


def train_step(m, ids, mask, labels):
    enc, key_mask = encode(m, ids, mask)
    dec_ids = torch.cat([torch.zeros(labels.shape[0], 1, dtype=torch.long), labels[:, :-1]], 1)
    T = dec_ids.shape[1]
    h = m["shared"][dec_ids]
    bias = position_bias(m["dec_bias"], 0, T, T, False) + (1.0 - torch.tril(torch.ones(T, T)))[None, None] * MIN
    for b in m["dec"]:
        x = rms(h, b["n0"])
        h = h + attend(b["sa"], x, heads(proj(x, b["sa"], "k")), heads(proj(x, b["sa"], "v")), bias)
        x = rms(h, b["n1"])
        h = h + attend(b["ca"], x, heads(proj(enc, b["ca"], "k")), heads(proj(enc, b["ca"], "v")), key_mask)
        h = h + ffn(b, rms(h, b["n2"]))
    loss = torch.nn.functional.cross_entropy(logits_of(m, h).view(-1, V), labels.view(-1))
    loss.backward()
    return loss


@torch.no_grad()
def generate(m, ids, mask, new_tokens):
    enc, key_mask = encode(m, ids, mask)
    B = ids.shape[0]
    cross = [(heads(proj(enc, b["ca"], "k")), heads(proj(enc, b["ca"], "v"))) for b in m["dec"]]
    cache = [None] * LAYERS
    token = torch.zeros(B, 1, dtype=torch.long)
    out = []
    for step in range(new_tokens):
        h = m["shared"][token]
        bias = position_bias(m["dec_bias"], step, 1, step + 1, False)
        for i, b in enumerate(m["dec"]):
            x = rms(h, b["n0"])
            k, v = heads(proj(x, b["sa"], "k")), heads(proj(x, b["sa"], "v"))
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            h = h + attend(b["sa"], x, k, v, bias)
            x = rms(h, b["n1"])
            h = h + attend(b["ca"], x, cross[i][0], cross[i][1], key_mask)
            h = h + ffn(b, rms(h, b["n2"]))
        token = logits_of(m, h).argmax(-1)
        out.append(token)
    return torch.cat(out, 1)


def best_of(fn, runs=7):
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    if len(sys.argv) not in (6, 7) or (len(sys.argv) == 7 and sys.argv[6] not in ("f32", "bf16")):
        sys.exit("usage: torch_t5.py THREADS BATCH SOURCE_LEN TARGET_LEN NEW_TOKENS [f32|bf16]")
    threads, B, Ts, Tt, new_tokens = (int(x) for x in sys.argv[1:6])
    bf16 = len(sys.argv) == 7 and sys.argv[6] == "bf16"
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    m = make_model(g)
    ids = torch.randint(2, V, (B, Ts), generator=g)
    mask = torch.ones(B, Ts, dtype=torch.long)
    labels = torch.randint(2, V, (B, Tt), generator=g)
    params = lora_params(m)

    def step():
        for p in params:
            p.grad = None
        train_step(m, ids, mask, labels)

    with precision:
        train_seconds = best_of(step)
        generate_seconds = best_of(lambda: generate(m, ids, mask, new_tokens))
    print(f"{B * (Ts + Tt) / train_seconds:.2f}", flush=True)
    print(f"{B * new_tokens / generate_seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
