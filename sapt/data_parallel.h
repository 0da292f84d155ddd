// data_parallel.h — what data parallelism changes in a training step, kept in one place: each rank takes a
// contiguous share of every global micro-batch (padded as the whole batch is, so that its rows see exactly
// the tensors one process would), weights its losses by its share of the global token or row count, and
// after the last micro-step sums the gradients (one flat buffer) and the logged loss sums over the ranks.
// With one process every weight is 1 and nothing is exchanged. Not here: the collectives (engine/distributed.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sapt/batching.h"

// Rows [first, second) of n that rank `rank` of `world` takes: contiguous, sizes differing by at most one.
std::pair<int, int> rank_share(int n, int rank, int world);

// This rank's part of the batch of examples[rows].
struct BatchShare {
    Batch batch;                // this rank's rows, on batching.device; undefined tensors when `empty`
    bool empty = true;          // no rows for this rank (a batch with fewer rows than ranks)
    double token_weight = 0;    // this rank's loss tokens / the global batch's: for means over answer tokens
    double row_weight = 0;      // this rank's rows / the global batch's: for means over rows, and for terms
                                // that do not depend on the data (they must be counted once over the ranks)
};

// Builds the whole batch on the host (its padding is the global one), then keeps the rows of rank `rank` of
// `world` (the trainer passes dist_rank(), dist_world_size(); a test may play every rank in one process).
BatchShare batch_share(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                       const BatchingOptions& batching, bool with_labels, int rank, int world);

// The tokens a cross-entropy over `labels` (B, T) averages over: the labels other than -100, shifted by
// one for LLaMA (logit t predicts label t + 1), as t5_loss and llama_loss count them.
int64_t loss_token_count(ModelKind kind, const Tensor& labels);

// Sums over the ranks, in place: every gradient of `params` (one flat buffer on their device) and the
// values of `sums` (the step's loss sums, on the host). A gradient allocated on any rank is allocated on
// every rank afterwards, so AdamW skips the same parameters everywhere. Nothing happens with one process.
void sum_over_ranks(const std::vector<Tensor>& params, std::vector<double>& sums);

// ---- blobs for dist_all_gather: what one rank computed (predictions, weights), in a byte string ----------
void blob_put_u64(std::string& blob, uint64_t value);
void blob_put_string(std::string& blob, const std::string& text);     // length, then the bytes
void blob_put_floats(std::string& blob, const std::vector<float>& values);
struct BlobReader {
    const std::string& blob;
    size_t at = 0;
};
bool blob_done(const BlobReader& in);
uint64_t blob_u64(BlobReader& in);  // each throws sapt_error on a blob shorter than it claims
std::string blob_string(BlobReader& in);
std::vector<float> blob_floats(BlobReader& in);
