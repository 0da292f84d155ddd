// test_ops.cpp — every differentiable op against central finite differences (test_ops_util.h), and the
// tape's rules: gradients accumulate over uses, frozen tensors get no gradient buffer, NoGradScope records
// nothing, shape errors name the op. PyTorch parity of the same ops is in test_ops_torch.cpp.
#include <cmath>
#include <memory>
#include <thread>

#include "engine/error.h"
#include "test_ops_util.h"

static std::vector<int64_t> shape_of(std::initializer_list<int64_t> dims) { return dims; }

// ---- linear algebra ----------------------------------------------------------------------------------

TEST_CASE("matmul gradients match finite differences for every transpose combination", "[ops]") {
    for (int trans_a = 0; trans_a < 2; trans_a++)
        for (int trans_b = 0; trans_b < 2; trans_b++) {
            INFO("trans_a " << trans_a << " trans_b " << trans_b);
            Tensor a = test_param(trans_a ? shape_of({4, 3}) : shape_of({3, 4}), 1);
            Tensor b = test_param(trans_b ? shape_of({5, 4}) : shape_of({4, 5}), 2);
            check_gradients("matmul 2-D", [&](const std::vector<Tensor>& in) {
                return matmul(in[0], in[1], trans_a, trans_b);
            }, {a, b});
        }
}

TEST_CASE("matmul folds leading axes of a into one GEMM against a 2-D b", "[ops]") {
    Tensor a = test_param({2, 3, 4}, 3);
    Tensor b = test_param({4, 5}, 4);
    Tensor out = matmul(a, b);
    REQUIRE(out.shape() == shape_of({2, 3, 5}));
    check_gradients("matmul (B, M, K) x (K, N)", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                    {a, b});
}

TEST_CASE("batched matmul gradients match finite differences, with transposes", "[ops]") {
    for (int trans_a = 0; trans_a < 2; trans_a++)
        for (int trans_b = 0; trans_b < 2; trans_b++) {
            INFO("trans_a " << trans_a << " trans_b " << trans_b);
            Tensor a = test_param(trans_a ? shape_of({2, 2, 4, 3}) : shape_of({2, 2, 3, 4}), 5);
            Tensor b = test_param(trans_b ? shape_of({2, 2, 5, 4}) : shape_of({2, 2, 4, 5}), 6);
            check_gradients("matmul batched", [&](const std::vector<Tensor>& in) {
                return matmul(in[0], in[1], trans_a, trans_b);
            }, {a, b});
        }
}

TEST_CASE("matmul of a transposed batched a with a shared b sums b's gradient over the batch", "[ops]") {
    Tensor a = test_param({3, 4, 2}, 7);  // op(a) = (3, 2, 4)
    Tensor b = test_param({4, 5}, 8);
    check_gradients("matmul a^T shared b", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1], true, false); },
                    {a, b});
}

TEST_CASE("linear is x W^T and sends gradients to x and W", "[ops]") {
    Tensor x = test_param({2, 3, 4}, 9);
    Tensor w = test_param({6, 4}, 10);
    check_gradients("linear", [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); }, {x, w});
}

TEST_CASE("a bf16 weight is frozen: linear uses its rounded values and gives it no gradient", "[ops]") {
    Tensor x = test_param({3, 4}, 11);
    Tensor w_f32 = test_tensor({5, 4}, 12);
    Tensor w_bf16 = tensor_to_bf16(w_f32);
    Tensor expected = linear(x, tensor_to_f32(w_bf16));
    tape_clear();
    Tensor got = linear(x, w_bf16);
    std::vector<float> e = tensor_values(expected), g = tensor_values(got);
    for (size_t i = 0; i < e.size(); i++) CHECK(g[i] == Approx(e[i]).margin(1e-6));
    tape_clear();
    check_gradients("linear bf16 weight", [&](const std::vector<Tensor>& in) { return linear(in[0], w_bf16); }, {x});
    CHECK_FALSE(w_bf16.has_grad());
    Tensor trainable_bf16 = tensor_to_bf16(w_f32);
    trainable_bf16.data->requires_grad = true;
    CHECK_THROWS_AS(linear(x, trainable_bf16), sapt_error);
}

TEST_CASE("matmul rejects mismatched inner dimensions, naming the op and the shapes", "[ops]") {
    Tensor a = test_tensor({2, 3}, 1), b = test_tensor({4, 5}, 2);
    CHECK_THROWS_WITH(matmul(a, b), Catch::Contains("matmul:") && Catch::Contains("(2, 3)") && Catch::Contains("(4, 5)"));
    CHECK_THROWS_AS(matmul(test_tensor({2, 3, 4}, 1), test_tensor({3, 4, 5}, 2)), sapt_error);
}

// ---- elementwise and reductions --------------------------------------------------------------------

TEST_CASE("add, sub and mul gradients match, for equal shapes and a broadcast row", "[ops]") {
    Tensor a = test_param({2, 3, 4}, 13);
    Tensor b_full = test_param({2, 3, 4}, 14);
    Tensor b_row = test_param({4}, 15);
    for (Tensor b : {b_full, b_row}) {
        check_gradients("add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, b});
        check_gradients("sub", [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {a, b});
        check_gradients("mul", [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b});
    }
    CHECK_THROWS_WITH(add(a, test_tensor({3}, 1)), Catch::Contains("add:"));
}

TEST_CASE("scale, sum, mean and sum_axis gradients match", "[ops]") {
    Tensor a = test_param({2, 3, 4}, 16);
    check_gradients("scale", [](const std::vector<Tensor>& in) { return scale(in[0], -2.5f); }, {a});
    check_gradients("sum", [](const std::vector<Tensor>& in) { return sum(in[0]); }, {a});
    check_gradients("mean", [](const std::vector<Tensor>& in) { return mean(in[0]); }, {a});
    for (int axis : {0, 1, -1}) {
        INFO("axis " << axis);
        check_gradients("sum_axis", [axis](const std::vector<Tensor>& in) { return sum_axis(in[0], axis); }, {a});
    }
    std::vector<float> row_sums = tensor_values(sum_axis(tensor_from({2, 2}, {1, 2, 3, 4}), 1));
    CHECK(row_sums == std::vector<float>{3, 7});
}

TEST_CASE("mul_per_batch weights each example and sends gradients to both inputs", "[ops]") {
    Tensor a = test_param({3, 2, 4}, 17);
    Tensor w = test_param({3}, 18);
    Tensor w_3d = test_param({3, 1, 1}, 19);
    check_gradients("mul_per_batch (B)", [](const std::vector<Tensor>& in) { return mul_per_batch(in[0], in[1]); }, {a, w});
    check_gradients("mul_per_batch (B, 1, 1)", [](const std::vector<Tensor>& in) { return mul_per_batch(in[0], in[1]); },
                    {a, w_3d});
    CHECK_THROWS_AS(mul_per_batch(a, test_tensor({2}, 1)), sapt_error);
}

// ---- layout ------------------------------------------------------------------------------------------

TEST_CASE("reshape shares the buffer; transpose, permute, slice, concat copy, and all pass gradients", "[ops]") {
    Tensor a = test_param({2, 3, 4}, 20);
    Tensor view = reshape(a, {6, -1});
    CHECK(view.shape() == shape_of({6, 4}));
    CHECK(view.raw() == a.raw());
    tape_clear();
    CHECK_THROWS_AS(reshape(a, {5, -1}), sapt_error);
    check_gradients("reshape", [](const std::vector<Tensor>& in) { return reshape(in[0], {4, 6}); }, {a});
    check_gradients("transpose", [](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {a});
    check_gradients("permute", [](const std::vector<Tensor>& in) { return permute(in[0], {1, 2, 0}); }, {a});
    check_gradients("slice", [](const std::vector<Tensor>& in) { return slice(in[0], 1, 1, 3); }, {a});
    Tensor b = test_param({2, 2, 4}, 21);
    check_gradients("concat", [](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); }, {a, b});

    std::vector<float> t = tensor_values(transpose(tensor_from({2, 3}, {0, 1, 2, 3, 4, 5}), 0, 1));
    CHECK(t == std::vector<float>{0, 3, 1, 4, 2, 5});
    std::vector<float> c = tensor_values(concat({tensor_from({1, 2}, {1, 2}), tensor_from({1, 1}, {3})}, 1));
    CHECK(c == std::vector<float>{1, 2, 3});
    CHECK_THROWS_AS(slice(a, 1, 2, 4), sapt_error);
    CHECK_THROWS_AS(permute(a, {0, 0, 1}), sapt_error);
}

// ---- lookups, softmax, norms, activations -------------------------------------------------------------

TEST_CASE("embedding scatter-adds gradients into the rows it read, twice for a repeated id", "[ops]") {
    Tensor table = test_param({5, 3}, 22);
    Tensor ids = tensor_from_i32({2, 2}, {4, 1, 4, 0});
    check_gradients("embedding", [&](const std::vector<Tensor>& in) { return embedding(ids, in[0]); }, {table});
    CHECK_THROWS_WITH(embedding(tensor_from_i32({1}, {5}), table), Catch::Contains("embedding:"));
    std::vector<float> from_bf16 = tensor_values(embedding(ids, tensor_to_bf16(table)));
    std::vector<float> expected = tensor_values(embedding(ids, tensor_to_f32(tensor_to_bf16(table))));
    tape_clear();
    CHECK(from_bf16 == expected);
}

TEST_CASE("softmax and log_softmax gradients match", "[ops]") {
    Tensor a = test_param({3, 5}, 23, -2.0f, 2.0f);
    check_gradients("softmax", [](const std::vector<Tensor>& in) { return softmax(in[0]); }, {a});
    check_gradients("log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {a});
}

TEST_CASE("rms_norm and layer_norm gradients match, and a frozen gain gets none", "[ops]") {
    Tensor x = test_param({2, 3, 6}, 24, -2.0f, 2.0f);
    Tensor w = test_param({6}, 25, 0.5f, 1.5f);
    Tensor bias = test_param({6}, 26);
    check_gradients("rms_norm", [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-6f); }, {x, w});
    check_gradients("layer_norm", [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], 1e-5f); },
                    {x, w, bias});
    Tensor frozen_w = test_tensor({6}, 25, 0.5f, 1.5f);
    check_gradients("rms_norm frozen gain", [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-6f); },
                    {x, frozen_w});
    // Only the gain trains: x is a constant input.
    Tensor constant_x = test_tensor({2, 6}, 27);
    check_gradients("rms_norm constant x", [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-6f); },
                    {constant_x, w});
}

TEST_CASE("relu, gelu_tanh and silu gradients match", "[ops]") {
    // Keep relu's inputs away from its kink at 0, where finite differences straddle two slopes.
    std::vector<float> values = test_values(24, 28, -1.0f, 1.0f);
    for (float& v : values) v = v < 0 ? v - 0.1f : v + 0.1f;
    Tensor x = tensor_from({4, 6}, values);
    x.data->requires_grad = true;
    check_gradients("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, {x});
    check_gradients("gelu_tanh", [](const std::vector<Tensor>& in) { return gelu_tanh(in[0]); }, {x});
    check_gradients("silu", [](const std::vector<Tensor>& in) { return silu(in[0]); }, {x});
}

TEST_CASE("dropout keeps about 1 - p of the elements, scaled, and backward uses the same mask", "[ops]") {
    const float p = 0.25f;
    const int64_t n = 100000;
    Tensor x = tensor_full({n}, 2.0f);
    x.data->requires_grad = true;
    Tensor out = dropout(x, p, true);
    std::vector<float> values = tensor_values(out);
    int64_t kept = 0;
    for (float v : values) {
        REQUIRE((v == 0.0f || std::fabs(v - 2.0f / (1.0f - p)) < 1e-6f));
        kept += v != 0.0f;
    }
    // Binomial(n, 0.75): the standard deviation of the kept fraction is 0.0014; allow 5 of them.
    CHECK(std::fabs((double)kept / n - (1.0 - p)) < 0.007);
    backward(sum(out));
    std::vector<float> dx = grad_values(x);
    for (int64_t i = 0; i < n; i++) {
        REQUIRE(dx[i] == (values[i] != 0.0f ? 1.0f / (1.0f - p) : 0.0f));
    }
    CHECK(tensor_values(dropout(x, p, false)) == tensor_values(x));
    tape_clear();
    CHECK_THROWS_AS(dropout(x, 1.0f, true), sapt_error);
}

TEST_CASE("max_pool_seq sends each gradient to the winning position, with and without a mask", "[ops]") {
    // Distinct values 0.1 apart, so no +-eps nudge changes which position wins.
    std::vector<float> values(2 * 4 * 3);
    for (size_t i = 0; i < values.size(); i++) values[i] = 0.1f * (float)((i * 7) % values.size());
    Tensor x = tensor_from({2, 4, 3}, values);
    x.data->requires_grad = true;
    check_gradients("max_pool_seq", [](const std::vector<Tensor>& in) { return max_pool_seq(in[0], Tensor{}); }, {x});
    Tensor mask = tensor_empty({2, 4}, DType::U8);
    const uint8_t bits[8] = {1, 1, 0, 0, 1, 0, 1, 1};
    std::copy(bits, bits + 8, mask.u8());
    check_gradients("max_pool_seq masked", [&](const std::vector<Tensor>& in) { return max_pool_seq(in[0], mask); }, {x});
    // The masked pool never picks a padding position.
    std::vector<float> pooled = tensor_values(max_pool_seq(x, mask));
    tape_clear();
    for (int c = 0; c < 3; c++) CHECK(pooled[c] == std::max(values[c], values[3 + c]));
}

// ---- attention and rope --------------------------------------------------------------------------------

TEST_CASE("T5-style attention with position bias and key mask: gradients to q, k, v and the bias", "[ops]") {
    Tensor q = test_param({2, 3, 2, 4}, 30);
    Tensor k = test_param({2, 4, 2, 4}, 31);
    Tensor v = test_param({2, 4, 2, 4}, 32);
    Tensor bias = test_param({2, 3, 4}, 33);
    Tensor key_mask = tensor_empty({2, 4}, DType::U8);
    const uint8_t bits[8] = {1, 1, 1, 0, 1, 0, 1, 1};
    std::copy(bits, bits + 8, key_mask.u8());
    check_gradients("attention t5", [&](const std::vector<Tensor>& in) {
        return attention(in[0], in[1], in[2], in[3], key_mask, 1.0f, false);
    }, {q, k, v, bias});
}

TEST_CASE("causal grouped-query attention gradients match, also for fewer queries than keys", "[ops]") {
    Tensor q = test_param({1, 4, 4, 4}, 34);
    Tensor k = test_param({1, 4, 2, 4}, 35);
    Tensor v = test_param({1, 4, 2, 4}, 36);
    check_gradients("attention causal gqa", [](const std::vector<Tensor>& in) {
        return attention(in[0], in[1], in[2], Tensor{}, Tensor{}, 0.5f, true);
    }, {q, k, v});
    Tensor q_last = test_param({1, 2, 4, 4}, 37);
    check_gradients("attention causal Tq < Tk", [](const std::vector<Tensor>& in) {
        return attention(in[0], in[1], in[2], Tensor{}, Tensor{}, 0.5f, true);
    }, {q_last, k, v});
    CHECK_THROWS_WITH(attention(q, test_tensor({1, 4, 3, 4}, 1), test_tensor({1, 4, 3, 4}, 2), Tensor{}, Tensor{}, 1.0f,
                                false),
                      Catch::Contains("attention:"));
}

TEST_CASE("rope gradients match and rope preserves each pair's norm", "[ops]") {
    Tensor x = test_param({2, 3, 2, 4}, 38);
    Tensor positions = tensor_from_i32({2, 3}, {0, 1, 2, 5, 6, 7});
    check_gradients("rope", [&](const std::vector<Tensor>& in) { return rope(in[0], positions, 10000.0f); }, {x});
    std::vector<float> in = tensor_values(x), out = tensor_values(rope(x, positions, 10000.0f));
    tape_clear();
    for (size_t row = 0; row < in.size() / 4; row++)
        for (size_t i = 0; i < 2; i++) {
            const float* a = &in[row * 4];
            const float* b = &out[row * 4];
            CHECK(b[i] * b[i] + b[i + 2] * b[i + 2] == Approx(a[i] * a[i] + a[i + 2] * a[i + 2]).epsilon(1e-5));
        }
}

// ---- losses ------------------------------------------------------------------------------------------------

TEST_CASE("cross_entropy averages over non-ignored rows and its gradient matches", "[ops]") {
    Tensor logits = test_param({2, 3, 5}, 40, -2.0f, 2.0f);
    Tensor targets = tensor_from_i32({2, 3}, {1, -100, 4, 0, 2, -100});
    check_gradients("cross_entropy", [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], targets); },
                    {logits});
    Tensor all_ignored = tensor_from_i32({2, 3}, {-100, -100, -100, -100, -100, -100});
    CHECK(tensor_values(cross_entropy(logits, all_ignored))[0] == 0.0f);
    CHECK_THROWS_WITH(cross_entropy(logits, tensor_from_i32({2, 3}, {1, 2, 3, 4, 5, 0})), Catch::Contains("cross_entropy:"));
    // One row by hand: -log softmax(x)[t].
    Tensor row = tensor_from({1, 3}, {1.0f, 2.0f, 3.0f});
    const double expected = -(2.0 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
    CHECK(tensor_values(cross_entropy(row, tensor_from_i32({1}, {1})))[0] == Approx(expected).epsilon(1e-6));
}

TEST_CASE("kl_div_batchmean gradient to logp matches; the target stays a constant", "[ops]") {
    Tensor logits = test_tensor({3, 4}, 41, -2.0f, 2.0f);
    Tensor target = softmax(test_tensor({3, 4}, 42));
    std::vector<float> t = tensor_values(target);
    t[1] = 0.0f;  // a zero target term contributes 0 (0 log 0 = 0), not NaN
    target = tensor_from({3, 4}, t);
    Tensor logp = tensor_from({3, 4}, tensor_values(log_softmax(logits)));
    logp.data->requires_grad = true;
    check_gradients("kl_div_batchmean", [&](const std::vector<Tensor>& in) { return kl_div_batchmean(in[0], target); },
                    {logp});
    CHECK(std::isfinite(tensor_values(kl_div_batchmean(logp, target))[0]));
    tape_clear();
}

// ---- the tape ------------------------------------------------------------------------------------------------

TEST_CASE("a tensor used twice accumulates both gradients", "[ops][autograd]") {
    Tensor x = test_param({3}, 50);
    backward(sum(mul(x, x)));  // d/dx sum(x^2) = 2x
    std::vector<float> values = tensor_values(x), dx = grad_values(x);
    for (size_t i = 0; i < 3; i++) CHECK(dx[i] == Approx(2.0f * values[i]));
    backward(sum(add(x, x)));  // accumulates 2 on top of the previous gradient
    std::vector<float> dx2 = grad_values(x);
    for (size_t i = 0; i < 3; i++) CHECK(dx2[i] == Approx(2.0f * values[i] + 2.0f));
}

TEST_CASE("a tensor that does not require a gradient never gets a gradient buffer", "[ops][autograd]") {
    Tensor frozen = test_tensor({4, 3}, 51);
    Tensor x = test_param({2, 4}, 52);
    Tensor hidden = matmul(x, frozen);
    backward(sum(relu(hidden)));
    CHECK(x.has_grad());
    CHECK_FALSE(frozen.has_grad());
    CHECK(hidden.requires_grad());
}

TEST_CASE("NoGradScope records nothing and restores grad mode", "[ops][autograd]") {
    Tensor x = test_param({2, 2}, 53);
    tape_clear();
    {
        NoGradScope no_grad;
        CHECK_FALSE(grad_enabled());
        Tensor y = softmax(matmul(x, x));
        CHECK(tape_size() == 0);
        CHECK_FALSE(y.requires_grad());
        CHECK_THROWS_AS(backward(sum(y)), sapt_error);
    }
    CHECK(grad_enabled());
    Tensor y = matmul(x, x);
    CHECK(tape_size() == 1);
    CHECK(y.requires_grad());
    tape_clear();
    CHECK(tape_size() == 0);
}

TEST_CASE("backward needs a scalar loss and empties the tape", "[ops][autograd]") {
    Tensor x = test_param({2, 2}, 54);
    Tensor y = scale(x, 3.0f);
    CHECK_THROWS_WITH(backward(y), Catch::Contains("backward:") && Catch::Contains("(2, 2)"));
    backward(sum(y));
    CHECK(tape_size() == 0);
    for (float g : grad_values(x)) CHECK(g == 3.0f);
    x.zero_grad();
    for (float g : grad_values(x)) CHECK(g == 0.0f);
}

TEST_CASE("backward frees what the tape held: intermediates die with their last handle", "[ops][autograd]") {
    Tensor x = test_param({2, 3}, 55);
    std::weak_ptr<TensorData> hidden_data;
    Tensor loss;
    {
        Tensor hidden = gelu_tanh(x);
        hidden_data = hidden.data;
        loss = sum(hidden);
    }
    CHECK_FALSE(hidden_data.expired());  // the tape still needs it for backward
    backward(loss);
    CHECK(hidden_data.expired());
}

TEST_CASE("each thread records on its own tape", "[ops][autograd]") {
    tape_clear();
    Tensor x = test_param({2, 2}, 56);
    Tensor y = scale(x, 2.0f);
    size_t other_thread_tape = 0;
    bool other_thread_grad_mode = false;
    std::thread worker([&]() {
        Tensor z = test_param({2, 2}, 57);
        Tensor w = relu(matmul(z, z));
        other_thread_tape = tape_size();
        other_thread_grad_mode = grad_enabled();
        tape_clear();
    });
    worker.join();
    CHECK(other_thread_tape == 2);
    CHECK(other_thread_grad_mode);
    CHECK(tape_size() == 1);  // the worker's ops and its tape_clear did not touch this thread's tape
    backward(sum(y));
    for (float g : grad_values(x)) CHECK(g == 2.0f);
}

TEST_CASE("tensors convert between f32 and bf16 and report wrong dtypes and devices", "[ops][tensor]") {
    Tensor t = tensor_from({3}, {1.0f, -2.5f, 1.00390625f});
    std::vector<float> round_trip = tensor_values(tensor_to_f32(tensor_to_bf16(t)));
    CHECK(round_trip == std::vector<float>{1.0f, -2.5f, 1.0f});  // 1 + 2^-8 rounds to even: 1
    CHECK_THROWS_WITH(t.i32(), Catch::Contains("expected i32, got f32"));
    CHECK_THROWS_AS(tensor_from({2, 2}, {1.0f}), sapt_error);
    CHECK(shape_str({2, 3, 4}) == "(2, 3, 4)");
#ifndef SAPT_CUDA
    CHECK_THROWS_WITH(tensor_zeros({2}, DType::F32, Device::CUDA), Catch::Contains("CUDA"));
#endif
}
