#!/usr/bin/python3
"""gen_ops_fixtures.py — PyTorch reference values for every op of engine/ops.h.

Writes tests/fixtures/ops/ops.json: for each case, the f32 inputs, a probe (the upstream gradient of the
output, so that loss = sum(output * probe)), the output and the gradient of every trainable input.
Inputs are drawn in float32; the reference math runs in float64 on those exact values, written out
with explicit torch formulas where the engine must match HF conventions (T5 RMSNorm, HF rotate_half,
masked attention scores = finfo(float32).min). tests/test_ops_torch.cpp reads the file; the test
suite never runs Python. Run: /usr/bin/python3 tests/reference/gen_ops_fixtures.py (torch 1.13).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
F32_MIN = torch.finfo(torch.float32).min
cases = []


def f32(shape, lo=-1.0, hi=1.0):
    """Uniform float32 values in [lo, hi), then float64 for the reference math."""
    return (torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo).double()


def values(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def add_case(name, op, fn, inputs, attrs=None, constants=None):
    """inputs: name -> float64 tensor holding float32 values (all trainable);
    constants: name -> (dtype, tensor) passed to the op but not differentiated."""
    constants = constants or {}
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = fn(**leaves, **{k: v for k, (_, v) in constants.items()})
    probe = f32(out.shape)
    (out * probe).sum().backward()
    shape = list(out.shape) if out.dim() > 0 else [1]
    entry = {
        "name": name,
        "op": op,
        "attrs": attrs or {},
        "inputs": [{"name": k, "dtype": "f32", "shape": list(v.shape), "values": values(v)} for k, v in inputs.items()],
        "constants": [{"name": k, "dtype": dt, "shape": list(v.shape), "values": [int(x) if dt != "f32" else float("%.9g" % x) for x in v.reshape(-1).tolist()]}
                      for k, (dt, v) in constants.items()],
        "probe": values(probe),
        "output": {"shape": shape, "values": values(out)},
        "grads": {k: values(v.grad) for k, v in leaves.items()},
    }
    cases.append(entry)


# ---- linear algebra ------------------------------------------------------------------------------------
def mm(trans_a, trans_b):
    def fn(a, b):
        return (a.transpose(-1, -2) if trans_a else a) @ (b.transpose(-1, -2) if trans_b else b)
    return fn


for ta in (False, True):
    for tb in (False, True):
        add_case(f"matmul_2d_{int(ta)}{int(tb)}", "matmul", mm(ta, tb),
                 {"a": f32((4, 3) if ta else (3, 4)), "b": f32((5, 4) if tb else (4, 5))},
                 {"trans_a": ta, "trans_b": tb})
        add_case(f"matmul_batched_{int(ta)}{int(tb)}", "matmul", mm(ta, tb),
                 {"a": f32((2, 2, 4, 3) if ta else (2, 2, 3, 4)), "b": f32((2, 2, 5, 4) if tb else (2, 2, 4, 5))},
                 {"trans_a": ta, "trans_b": tb})
add_case("matmul_folded", "matmul", mm(False, False), {"a": f32((2, 3, 4)), "b": f32((4, 5))},
         {"trans_a": False, "trans_b": False})
add_case("matmul_shared_b_trans_a", "matmul", mm(True, False), {"a": f32((3, 4, 2)), "b": f32((4, 5))},
         {"trans_a": True, "trans_b": False})
add_case("linear", "linear", lambda x, w: x @ w.T, {"x": f32((2, 3, 4)), "w": f32((6, 4))})

# ---- elementwise and reductions --------------------------------------------------------------------------
for name, fn in (("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b)):
    add_case(name, name, fn, {"a": f32((2, 3, 4)), "b": f32((2, 3, 4))})
    add_case(name + "_row", name, fn, {"a": f32((2, 3, 4)), "b": f32((4,))})
add_case("scale", "scale", lambda a: a * -1.5, {"a": f32((2, 3))}, {"s": -1.5})
add_case("mul_per_batch", "mul_per_batch", lambda a, w: a * w[:, None, None], {"a": f32((3, 2, 4)), "w": f32((3,))})
add_case("sum", "sum", lambda a: a.sum(), {"a": f32((2, 3, 4))})
add_case("mean", "mean", lambda a: a.mean(), {"a": f32((2, 3, 4))})
add_case("sum_axis", "sum_axis", lambda a: a.sum(1), {"a": f32((2, 3, 4))}, {"axis": 1})

# ---- layout ----------------------------------------------------------------------------------------------
add_case("reshape", "reshape", lambda a: a.reshape(4, 6), {"a": f32((2, 3, 4))}, {"shape": [4, -1]})
add_case("transpose", "transpose", lambda a: a.transpose(0, 2), {"a": f32((2, 3, 4))}, {"axis0": 0, "axis1": 2})
add_case("permute", "permute", lambda a: a.permute(1, 2, 0), {"a": f32((2, 3, 4))}, {"axes": [1, 2, 0]})
add_case("slice", "slice", lambda a: a[:, 1:3], {"a": f32((2, 3, 4))}, {"axis": 1, "start": 1, "end": 3})
add_case("concat", "concat", lambda a, b: torch.cat([a, b], 1), {"a": f32((2, 3, 4)), "b": f32((2, 2, 4))}, {"axis": 1})

# ---- lookups, softmax, norms, activations ------------------------------------------------------------------
add_case("embedding", "embedding", lambda table, ids: table[ids.long()], {"table": f32((7, 4))},
         constants={"ids": ("i32", torch.tensor([[3, 0, 6], [3, 1, 2]], dtype=torch.int32))})
add_case("softmax", "softmax", lambda a: torch.softmax(a, -1), {"a": f32((3, 5), -2, 2)})
add_case("log_softmax", "log_softmax", lambda a: torch.log_softmax(a, -1), {"a": f32((3, 5), -2, 2)})
# T5LayerNorm: no mean subtraction, no bias; variance = mean of squares.
add_case("rms_norm", "rms_norm", lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w,
         {"x": f32((2, 3, 8), -2, 2), "w": f32((8,), 0.5, 1.5)}, {"eps": 1e-6})
add_case("layer_norm", "layer_norm", lambda x, w, b: F.layer_norm(x, (8,), w, b, 1e-5),
         {"x": f32((2, 3, 8), -2, 2), "w": f32((8,), 0.5, 1.5), "b": f32((8,))}, {"eps": 1e-5})
add_case("relu", "relu", lambda x: torch.relu(x), {"x": f32((4, 6), -2, 2)})
add_case("gelu_tanh", "gelu_tanh",
         lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3)))),
         {"x": f32((4, 6), -3, 3)})
add_case("silu", "silu", lambda x: F.silu(x), {"x": f32((4, 6), -3, 3)})

# ---- SAPT's query pooling ------------------------------------------------------------------------------------
pool_mask = torch.tensor([[1, 1, 0, 0, 1], [1, 0, 1, 1, 0]], dtype=torch.uint8)
add_case("max_pool_seq", "max_pool_seq", lambda x: x.max(1).values, {"x": f32((2, 5, 3))})
add_case("max_pool_seq_masked", "max_pool_seq",
         lambda x, mask: x.masked_fill(mask[:, :, None] == 0, float("-inf")).max(1).values,
         {"x": f32((2, 5, 3))}, constants={"mask": ("u8", pool_mask)})


# ---- attention: explicit math, heads moved next to the batch ------------------------------------------------------
def attention_math(q, k, v, pos_bias=None, key_mask=None, scale=1.0, causal=False):
    B, Tq, Hq, D = q.shape
    Tk, Hkv = k.shape[1], k.shape[2]
    qh = q.permute(0, 2, 1, 3)  # (B, Hq, Tq, D)
    kh = k.permute(0, 2, 1, 3).repeat_interleave(Hq // Hkv, dim=1)  # query head h reads kv head h // group
    vh = v.permute(0, 2, 1, 3).repeat_interleave(Hq // Hkv, dim=1)
    scores = scale * qh @ kh.transpose(-1, -2)
    if pos_bias is not None:
        scores = scores + pos_bias[None]
    masked = torch.zeros(B, 1, Tq, Tk, dtype=torch.bool)
    if key_mask is not None:
        masked = masked | (key_mask[:, None, None, :] == 0)
    if causal:
        qi = torch.arange(Tq)[:, None]
        ki = torch.arange(Tk)[None, :]
        masked = masked | (ki > qi + (Tk - Tq))[None, None]
    scores = scores.masked_fill(masked, F32_MIN)
    return (torch.softmax(scores, -1) @ vh).permute(0, 2, 1, 3)


key_mask = torch.tensor([[1, 1, 1, 0], [1, 0, 1, 1]], dtype=torch.uint8)
add_case("attention_t5", "attention",
         lambda q, k, v, pos_bias, key_mask: attention_math(q, k, v, pos_bias, key_mask, 1.0, False),
         {"q": f32((2, 3, 2, 4)), "k": f32((2, 4, 2, 4)), "v": f32((2, 4, 2, 4)), "pos_bias": f32((2, 3, 4))},
         {"scale": 1.0, "causal": False}, constants={"key_mask": ("u8", key_mask)})
add_case("attention_causal_gqa", "attention", lambda q, k, v: attention_math(q, k, v, None, None, 0.5, True),
         {"q": f32((1, 4, 4, 4)), "k": f32((1, 4, 2, 4)), "v": f32((1, 4, 2, 4))}, {"scale": 0.5, "causal": True})
add_case("attention_causal_short_q", "attention", lambda q, k, v: attention_math(q, k, v, None, None, 0.5, True),
         {"q": f32((1, 2, 4, 4)), "k": f32((1, 4, 2, 4)), "v": f32((1, 4, 2, 4))}, {"scale": 0.5, "causal": True})


# ---- rope: HF LlamaRotaryEmbedding + apply_rotary_pos_emb -------------------------------------------------------
def rope_math(x, positions, theta=10000.0):
    D = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    angles = positions.double()[:, :, None] * inv_freq  # (B, T, D/2)
    emb = torch.cat([angles, angles], -1)[:, :, None, :]  # (B, T, 1, D)
    rotate_half = torch.cat([-x[..., D // 2:], x[..., :D // 2]], -1)
    return x * emb.cos() + rotate_half * emb.sin()


add_case("rope", "rope", rope_math, {"x": f32((2, 3, 2, 8))}, {"theta": 10000.0},
         constants={"positions": ("i32", torch.tensor([[0, 1, 2], [5, 6, 7]], dtype=torch.int32))})

# ---- losses ---------------------------------------------------------------------------------------------------------
targets = torch.tensor([[1, -100, 5], [0, 2, -100]], dtype=torch.int32)
add_case("cross_entropy", "cross_entropy",
         lambda logits, targets: F.cross_entropy(logits.reshape(-1, 6), targets.reshape(-1).long(), ignore_index=-100),
         {"logits": f32((2, 3, 6), -2, 2)}, constants={"targets": ("i32", targets)})
kl_target = torch.softmax(f32((3, 5)), -1)
kl_target[0, 1] = 0.0  # a zero target term counts 0 (torch's xlogy)
kl_target = kl_target.float().double()
add_case("kl_div_batchmean", "kl_div_batchmean",
         lambda logp, target: F.kl_div(logp, target, reduction="batchmean"),
         {"logp": torch.log_softmax(f32((3, 5), -2, 2), -1).float().double()},
         constants={"target": ("f32", kl_target)})

out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "ops")
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "ops.json")
with open(path + ".tmp", "w") as f:
    json.dump({"generator": "tests/reference/gen_ops_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
    f.flush()
    os.fsync(f.fileno())
os.replace(path + ".tmp", path)
print(f"wrote {len(cases)} cases to {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
