// ops_sequence.cpp — ops that index a sequence: embedding lookup, SAPT's max-pool over T, and rotary
// position embedding. Token ids and positions are checked on the host before any kernel reads them,
// because an out-of-range id would read outside the table.
#include "engine/ops_common.h"

Tensor embedding(const Tensor& ids, const Tensor& table) {
    check_dtype("embedding", ids, DType::I32, "ids");
    if (!table.defined() || (table.dtype() != DType::F32 && table.dtype() != DType::BF16) || table.ndim() != 2) {
        fail("embedding", "table must be an f32 or bf16 (V, C) tensor" +
                              (table.defined() ? " (got " + shape_str(table.shape()) + ")" : std::string()));
    }
    check_same_device("embedding", {&ids, &table});
    check_frozen_if_bf16("embedding", table, "table");
    const int64_t V = table.dim(0), C = table.dim(1);
    for (int32_t id : host_i32(ids)) {
        if (id < 0 || id >= V) {
            fail("embedding", "token id out of range (expected 0 <= id < " + std::to_string(V) + ", got " +
                                  std::to_string(id) + ")");
        }
    }
    std::vector<int64_t> out_shape = ids.shape();
    out_shape.push_back(C);
    const size_t N = (size_t)ids.numel();
    Tensor out = tensor_empty(out_shape, DType::F32, table.device());
    const Kernels& k = kernels_for(table.device());
    if (table.dtype() == DType::BF16) k.embedding_forward_bf16(out.f32(), ids.i32(), table.bf16_data(), N, (size_t)C);
    else k.embedding_forward(out.f32(), ids.i32(), table.f32(), N, (size_t)C);
    if (needs_grad({&table})) {
        record_backward("embedding", out, [ids, table, out, N, C]() {
            // Row ids[n] of the table produced output row n, so it collects that row's gradient
            // (a token seen twice collects twice).
            kernels_for(table.device()).embedding_backward(table.grad(), out.grad(), ids.i32(), N, (size_t)C);
        });
    }
    return out;
}

Tensor max_pool_seq(const Tensor& x, const Tensor& mask) {
    check_f32("max_pool_seq", x, "x");
    if (x.ndim() != 3) fail("max_pool_seq", "x must be (B, T, C) (got " + shape_str(x.shape()) + ")");
    const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
    if (mask.defined()) {
        check_dtype("max_pool_seq", mask, DType::U8, "mask");
        check_same_device("max_pool_seq", {&x, &mask});
        if (mask.shape() != std::vector<int64_t>{B, T}) {
            fail("max_pool_seq", "mask must be (B, T) = " + shape_str({B, T}) + " (got " + shape_str(mask.shape()) + ")");
        }
    }
    Tensor out = tensor_empty({B, C}, DType::F32, x.device());
    Tensor argmax = tensor_empty({B, C}, DType::I32, x.device());  // which t won, per (b, c)
    kernels_for(x.device()).maxpool_seq_forward(out.f32(), argmax.i32(), x.f32(), mask.defined() ? mask.u8() : nullptr,
                                                (size_t)B, (size_t)T, (size_t)C);
    if (needs_grad({&x})) {
        record_backward("max_pool_seq", out, [x, out, argmax, B, T, C]() {
            // Only the winning position of each (b, c) receives the gradient.
            kernels_for(x.device()).maxpool_seq_backward(x.grad(), out.grad(), argmax.i32(), (size_t)B, (size_t)T,
                                                         (size_t)C);
        });
    }
    return out;
}

Tensor rope(const Tensor& x, const Tensor& positions, float theta) {
    check_f32("rope", x, "x");
    check_dtype("rope", positions, DType::I32, "positions");
    check_same_device("rope", {&x, &positions});
    if (x.ndim() != 4 || x.dim(3) % 2 != 0) {
        fail("rope", "x must be (B, T, H, D) with D even (got " + shape_str(x.shape()) + ")");
    }
    const int64_t B = x.dim(0), T = x.dim(1), H = x.dim(2), D = x.dim(3);
    if (positions.shape() != std::vector<int64_t>{B, T}) {
        fail("rope", "positions must be (B, T) = " + shape_str({B, T}) + " (got " + shape_str(positions.shape()) + ")");
    }
    Tensor out = tensor_empty(x.shape(), DType::F32, x.device());
    kernels_for(x.device()).rope_forward(out.f32(), x.f32(), positions.i32(), (size_t)B, (size_t)T, (size_t)H,
                                         (size_t)D, theta);
    if (needs_grad({&x})) {
        record_backward("rope", out, [x, positions, out, B, T, H, D, theta]() {
            // A rotation's transpose is the rotation by -angle.
            kernels_for(x.device()).rope_backward(x.grad(), out.grad(), positions.i32(), (size_t)B, (size_t)T,
                                                  (size_t)H, (size_t)D, theta);
        });
    }
    return out;
}
