// test_data_parallel.cpp — the arithmetic of data parallelism (sapt/data_parallel.h), every rank played in one
// process: the shares of a batch cover it once; the sum of the ranks' weighted gradients (CE weighted by
// tokens, reflection KL by rows) equals one process's gradient, and a plain mean per rank does not; the
// gather blobs read back what was put in and refuse a truncated one. The MPI runs are tests/mpi/two_ranks.sh.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/ops.h"
#include "sapt/data_parallel.h"
#include "sapt/sapt.h"
#include "sapt/trainer.h"
#include "test_sapt_util.h"

TEST_CASE("rank shares cover every row once, contiguous, sizes within one", "[data-parallel]") {
    for (int n : {0, 1, 5, 8, 13}) {
        for (int world : {1, 2, 3, 8}) {
            int next = 0;
            for (int rank = 0; rank < world; rank++) {
                const auto [first, last] = rank_share(n, rank, world);
                CHECK(first == next);
                CHECK(last - first >= n / world);
                CHECK(last - first <= n / world + 1);
                next = last;
            }
            CHECK(next == n);
        }
    }
    CHECK_THROWS_WITH(rank_share(4, 2, 2), Catch::Contains("rank 2 outside a world of 2"));
    // The one-process build of the library: rank 0 of 1, collectives leave the data alone.
    CHECK(dist_rank() == 0);
    CHECK(dist_world_size() == 1);
    float data[2] = {1.5f, -2.0f};
    dist_all_reduce_sum(data, 2, Device::CPU);
    CHECK(data[0] == 1.5f);
    CHECK(dist_all_gather("abc") == std::vector<std::string>{"abc"});
}

namespace {

// Five LLaMA examples whose prompts and answers differ in length, so that the ranks' shares hold different
// numbers of answer tokens and are padded differently on their own.
std::vector<EncodedExample> uneven_examples() {
    return {{{2, 5, 7}, {9, 4}}, {{2, 3}, {6, 11, 12, 4}}, {{2, 8, 9, 10, 13}, {5}},
            {{2, 14}, {15, 16, 3}}, {{2, 6, 6, 7}, {18, 19, 2, 4, 5}}};
}

// The gradients of `params` after backward of `loss_of(share)` summed over every rank of `world`.
std::vector<std::vector<float>> summed_gradients(const std::vector<Tensor>& params, int world,
                                                 const std::function<Tensor(const BatchShare&, const BatchShare&)>& loss_of,
                                                 const std::vector<EncodedExample>& examples,
                                                 const BatchingOptions& batching) {
    zero_grad(params);
    const std::vector<int> rows = {0, 1, 2, 3, 4};
    for (int rank = 0; rank < world; rank++) {
        const BatchShare share = batch_share(examples, rows, batching, true, rank, world);
        const BatchShare pseudo = batch_share(examples, rows, batching, false, rank, world);
        if (!share.empty) backward(loss_of(share, pseudo));
    }
    std::vector<std::vector<float>> out;
    for (const Tensor& p : params) out.push_back(gradient_values(p));
    return out;
}

double worst_relative(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    double largest = 0, worst = 0;
    for (const auto& g : a) {
        for (float v : g) largest = std::max(largest, (double)std::fabs(v));
    }
    for (size_t i = 0; i < a.size(); i++) {
        for (size_t j = 0; j < a[i].size(); j++) worst = std::max(worst, (double)std::fabs(a[i][j] - b[i][j]) / largest);
    }
    return worst;
}

}  // namespace

TEST_CASE("ranks' gradients, CE weighted by tokens and KL by rows, sum to one process's gradient", "[data-parallel]") {
    Rng rng = rng_make(19);
    const Model model = tiny_llama(rng);
    SaptState state = sapt_create(model, SaptOptions{});
    for (int task = 0; task < 2; task++) {
        sapt_add_task(state, rng);
        for (LoraBank& bank : state.lora) init_normal(bank.current_B, 0.0f, 0.3f, rng);
    }
    state.targets = {{1.0f}};
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    BatchingOptions batching;
    batching.model_kind = ModelKind::Llama;
    batching.pad_id = 1;
    const std::vector<EncodedExample> examples = uneven_examples();
    const float kl_weight = 0.5f;

    // What the trainer backpropagates on one rank: CE * token share + lambda * KL * row share.
    auto weighted_loss = [&](const BatchShare& share, const BatchShare& pseudo, bool by_tokens) {
        sapt_begin_batch(state, model, share.batch.selection_ids, share.batch.selection_mask, true);
        const PetHook hook = sapt_hook(state);
        const Tensor ce = model_loss(model, &hook, share.batch, true);
        const Tensor kl = sapt_kl_loss(state, model, pseudo.batch.selection_ids, pseudo.batch.selection_mask,
                                       sapt_replay_target(state, 0));
        return add(scale(ce, (float)(by_tokens ? share.token_weight : share.row_weight)),
                   scale(kl, kl_weight * (float)pseudo.row_weight));
    };
    const auto one_process = summed_gradients(
        params, 1, [&](const BatchShare& s, const BatchShare& p) { return weighted_loss(s, p, true); }, examples, batching);
    for (int world : {2, 3, 5}) {
        const auto ranks = summed_gradients(
            params, world, [&](const BatchShare& s, const BatchShare& p) { return weighted_loss(s, p, true); }, examples,
            batching);
        INFO("world " << world);
        CHECK(worst_relative(one_process, ranks) < 1e-5);
    }
    // Each rank's plain mean (weights by rows) is another gradient: the token weighting is what makes them equal.
    const auto by_rows = summed_gradients(
        params, 2, [&](const BatchShare& s, const BatchShare& p) { return weighted_loss(s, p, false); }, examples, batching);
    CHECK(worst_relative(one_process, by_rows) > 1e-3);

    // The shares' weights: rows 0-2 and 3-4 of 5; answer tokens 2 + 4 + 1 = 7 and 3 + 5 = 8 of 15.
    const BatchShare rank1 = batch_share(examples, {0, 1, 2, 3, 4}, batching, true, 1, 2);
    CHECK(rank1.batch.rows == std::vector<int>{3, 4});
    CHECK(rank1.row_weight == Approx(2.0 / 5.0));
    CHECK(rank1.token_weight == Approx(8.0 / 15.0));
    // Padded as the whole batch: its rows keep the global width.
    CHECK(rank1.batch.input_ids.dim(1) == batch_share(examples, {0, 1, 2, 3, 4}, batching, true, 0, 1).batch.input_ids.dim(1));
    CHECK(batch_share(examples, {0}, batching, true, 1, 2).empty);
}

TEST_CASE("gather blobs read back what was put and refuse a truncated one", "[data-parallel]") {
    std::string blob;
    blob_put_u64(blob, 3);
    blob_put_floats(blob, {0.25f, -1.0f});
    blob_put_string(blob, std::string("caf\xc3", 4));  // not UTF-8 on purpose: bytes travel as they are
    blob_put_floats(blob, {});
    BlobReader in{blob};
    CHECK(blob_u64(in) == 3);
    CHECK(blob_floats(in) == std::vector<float>{0.25f, -1.0f});
    CHECK(blob_string(in) == std::string("caf\xc3", 4));
    CHECK(blob_floats(in).empty());
    CHECK(blob_done(in));
    const std::string cut = blob.substr(0, 20);
    BlobReader short_in{cut};
    blob_u64(short_in);
    CHECK_THROWS_WITH(blob_floats(short_in), Catch::Contains("gathered blob"));
}
