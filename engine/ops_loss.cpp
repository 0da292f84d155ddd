// ops_loss.cpp — the two losses SAPT trains with: token cross-entropy (fused with log-softmax, rows with
// target -100 ignored, mean over the rest) and KL divergence with batchmean reduction (torch.nn.KLDivLoss),
// which SAPT's attentive reflection uses to keep the attention over tasks on old pseudo inputs close to
// the attention saved when those tasks were learned.
// Both return a scalar; per-row losses and log-sum-exps stay inside the op.
#include "engine/ops_common.h"

static const int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
    check_f32("cross_entropy", logits, "logits");
    check_dtype("cross_entropy", targets, DType::I32, "targets");
    check_same_device("cross_entropy", {&logits, &targets});
    std::vector<int64_t> rows_shape(logits.shape().begin(), logits.shape().end() - (logits.ndim() > 0 ? 1 : 0));
    if ((logits.ndim() != 2 && logits.ndim() != 3) || targets.shape() != rows_shape) {
        fail("cross_entropy", "logits (N, V) or (B, T, V) need targets (N) or (B, T) (got logits " +
                                  shape_str(logits.shape()) + ", targets " + shape_str(targets.shape()) + ")");
    }
    const size_t V = (size_t)logits.dim(-1), N = (size_t)targets.numel();
    for (int32_t t : host_i32(targets)) {
        if (t != kIgnoreIndex && (t < 0 || t >= (int64_t)V)) {
            fail("cross_entropy", "target out of range (expected -100 or 0 <= target < " + std::to_string(V) +
                                      ", got " + std::to_string(t) + ")");
        }
    }
    const Kernels& k = kernels_for(logits.device());
    Tensor losses = tensor_empty({(int64_t)N}, DType::F32, logits.device());  // -log p[target] per row
    Tensor lse = tensor_empty({(int64_t)N}, DType::F32, logits.device());     // log-sum-exp per row
    const long count = k.cross_entropy_forward(losses.f32(), lse.f32(), logits.f32(), targets.i32(), N, V);
    // Every row ignored: the loss is 0 and no row sends a gradient (torch would give NaN).
    const double mean_loss = count > 0 ? k.sum(losses.f32(), N) / (double)count : 0.0;
    Tensor out = tensor_empty({1}, DType::F32, logits.device());
    k.fill(out.f32(), (float)mean_loss, 1);
    if (count > 0 && needs_grad({&logits})) {
        record_backward("cross_entropy", out, [logits, targets, out, lse, count, N, V]() {
            // d mean / d logits[n] = (softmax(logits[n]) - onehot(target[n])) / count, times dout.
            const Kernels& k = kernels_for(logits.device());
            const float dloss_per_row = read_scalar(out.grad(), out.device()) / (float)count;
            k.cross_entropy_backward(logits.grad(), logits.f32(), lse.f32(), targets.i32(), dloss_per_row, N, V);
        });
    }
    return out;
}

Tensor kl_div_batchmean(const Tensor& logp, const Tensor& target) {
    check_f32("kl_div_batchmean", logp, "logp");
    check_f32("kl_div_batchmean", target, "target");
    check_same_device("kl_div_batchmean", {&logp, &target});
    if (logp.ndim() != 2 || logp.shape() != target.shape() || logp.dim(0) == 0) {
        fail("kl_div_batchmean", "logp and target must both be (N, C) with N > 0 (got " + shape_str(logp.shape()) +
                                     " and " + shape_str(target.shape()) + ")");
    }
    const size_t N = (size_t)logp.dim(0), C = (size_t)logp.dim(1);
    const Kernels& k = kernels_for(logp.device());
    // batchmean divides the summed KL by the batch size N (not by N * C, which "mean" would).
    Tensor out = tensor_empty({1}, DType::F32, logp.device());
    k.fill(out.f32(), (float)(k.kl_div_forward(logp.f32(), target.f32(), N, C) / (double)N), 1);
    if (needs_grad({&logp})) {
        record_backward("kl_div_batchmean", out, [logp, target, out, N, C]() {
            // d/dlogp of t (log t - logp) / N is -t / N.
            const float scale = read_scalar(out.grad(), out.device()) / (float)N;
            kernels_for(logp.device()).kl_div_backward(logp.grad(), target.f32(), scale, N, C);
        });
    }
    return out;
}
