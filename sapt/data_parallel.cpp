// data_parallel.cpp — a rank's share of a batch, its loss weights, and the step's sums over ranks.
// See data_parallel.h.
#include "sapt/data_parallel.h"

#include <algorithm>
#include <cstring>

#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/error.h"

std::pair<int, int> rank_share(int n, int rank, int world) {
    if (world < 1 || rank < 0 || rank >= world) {
        fail("rank_share", "rank " + std::to_string(rank) + " outside a world of " + std::to_string(world));
    }
    // The first n % world ranks take one row more.
    const int base = n / world, extra = n % world;
    const int first = rank * base + std::min(rank, extra);
    return {first, first + base + (rank < extra ? 1 : 0)};
}

// Rows [first, last) of a (B, T) host tensor of any dtype.
static Tensor slice_rows(const Tensor& t, int first, int last) {
    if (!t.defined()) return t;
    const int64_t T = t.dim(1);
    Tensor out = tensor_empty({(int64_t)(last - first), T}, t.dtype());
    const size_t row_bytes = (size_t)T * dtype_size(t.dtype());
    std::memcpy(out.raw(), (const char*)t.raw() + (size_t)first * row_bytes, (size_t)(last - first) * row_bytes);
    return out;
}

int64_t loss_token_count(ModelKind kind, const Tensor& labels) {
    const std::vector<float> v = tensor_values(labels);
    const int64_t B = labels.dim(0), T = labels.dim(1);
    const int64_t shift = kind == ModelKind::Llama ? 1 : 0;
    int64_t count = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = shift; t < T; t++) count += v[(size_t)(b * T + t)] != -100.0f;
    }
    return count;
}

static int64_t mask_count(const Tensor& mask) {
    int64_t count = 0;
    const uint8_t* m = mask.u8();
    for (int64_t i = 0; i < mask.numel(); i++) count += m[i];
    return count;
}

BatchShare batch_share(const std::vector<EncodedExample>& examples, const std::vector<int>& rows,
                       const BatchingOptions& batching, bool with_labels, int rank, int world) {
    BatchingOptions on_host = batching;
    on_host.device = Device::CPU;
    const Batch whole = make_batch(examples, rows, on_host, with_labels);
    BatchShare share;
    if (world == 1) {
        share.batch = batching.device == Device::CPU ? whole : batch_to_device(whole, batching.device);
        share.empty = false;
        share.token_weight = share.row_weight = 1.0;
        return share;
    }
    const auto [first, last] = rank_share((int)rows.size(), rank, world);
    if (first == last) return share;
    Batch& b = share.batch;
    b.rows.assign(rows.begin() + first, rows.begin() + last);
    b.selection_ids = slice_rows(whole.selection_ids, first, last);
    b.selection_mask = slice_rows(whole.selection_mask, first, last);
    // T5 (and inputs-only batches) read the selection ids as the model input: keep them one tensor.
    const bool shared_input = whole.input_ids.data == whole.selection_ids.data;
    b.input_ids = shared_input ? b.selection_ids : slice_rows(whole.input_ids, first, last);
    b.mask = shared_input ? b.selection_mask : slice_rows(whole.mask, first, last);
    b.labels = slice_rows(whole.labels, first, last);
    // As make_batch counts: the input tokens, plus T5's label tokens (LLaMA's answer is in its input).
    b.tokens = mask_count(b.mask);
    if (with_labels && batching.model_kind == ModelKind::T5) b.tokens += loss_token_count(ModelKind::T5, b.labels);
    share.empty = false;
    share.row_weight = (double)(last - first) / (double)rows.size();
    share.token_weight = share.row_weight;  // inputs only: no loss tokens to weigh by
    if (with_labels) {
        const int64_t global = loss_token_count(batching.model_kind, whole.labels);
        // A batch whose every label is ignored has a loss of 0 everywhere: any weights summing to 1 do.
        if (global > 0) share.token_weight = (double)loss_token_count(batching.model_kind, b.labels) / (double)global;
    }
    if (batching.device != Device::CPU) share.batch = batch_to_device(share.batch, batching.device);
    return share;
}

void sum_over_ranks(const std::vector<Tensor>& params, std::vector<double>& sums) {
    if (dist_world_size() == 1) return;
    // Host part: which gradients exist anywhere, and the loss sums.
    std::vector<float> host(params.size() + sums.size());
    for (size_t i = 0; i < params.size(); i++) host[i] = params[i].has_grad() ? 1.0f : 0.0f;
    for (size_t i = 0; i < sums.size(); i++) host[params.size() + i] = (float)sums[i];
    dist_all_reduce_sum(host.data(), host.size(), Device::CPU);
    for (size_t i = 0; i < sums.size(); i++) sums[i] = host[params.size() + i];

    // Device part: the gradients that exist anywhere, packed into one buffer where they live (zeros for a
    // rank that has none yet), summed in one call, unpacked.
    std::vector<size_t> reduced;
    size_t total = 0;
    for (size_t i = 0; i < params.size(); i++) {
        if (host[i] > 0) {
            reduced.push_back(i);
            total += (size_t)params[i].numel();
        }
    }
    if (total == 0) return;
    const Device device = params[reduced[0]].device();
    const Tensor flat = tensor_zeros({(int64_t)total}, DType::F32, device);
    size_t offset = 0;
    for (size_t i : reduced) {
        const Tensor& p = params[i];
        if (p.device() != device) fail("sum_over_ranks", "parameters on two devices (expected one): " + p.name());
        const size_t bytes = (size_t)p.numel() * sizeof(float);
        if (p.has_grad()) copy_bytes(flat.f32() + offset, device, p.grad(), device, bytes);
        offset += (size_t)p.numel();
    }
    dist_all_reduce_sum(flat.f32(), total, device);
    offset = 0;
    for (size_t i : reduced) {
        const Tensor& p = params[i];
        copy_bytes(p.grad(), device, flat.f32() + offset, device, (size_t)p.numel() * sizeof(float));  // allocates if new
        offset += (size_t)p.numel();
    }
}

// ---- blobs: little-endian machine words, as every rank of one job shares the architecture -------------
void blob_put_u64(std::string& blob, uint64_t value) { blob.append((const char*)&value, sizeof value); }

void blob_put_string(std::string& blob, const std::string& text) {
    blob_put_u64(blob, text.size());
    blob += text;
}

void blob_put_floats(std::string& blob, const std::vector<float>& values) {
    blob_put_u64(blob, values.size());
    if (!values.empty()) blob.append((const char*)values.data(), values.size() * sizeof(float));
}

bool blob_done(const BlobReader& in) { return in.at >= in.blob.size(); }

static const char* blob_take(BlobReader& in, uint64_t bytes) {
    if (bytes > in.blob.size() - in.at) {
        fail("gathered blob", "truncated (expected " + std::to_string(bytes) + " more bytes at offset " +
                                  std::to_string(in.at) + ", got " + std::to_string(in.blob.size() - in.at) + ")");
    }
    const char* at = in.blob.data() + in.at;
    in.at += (size_t)bytes;
    return at;
}

uint64_t blob_u64(BlobReader& in) {
    uint64_t value;
    std::memcpy(&value, blob_take(in, sizeof value), sizeof value);
    return value;
}

std::string blob_string(BlobReader& in) {
    const uint64_t n = blob_u64(in);
    return std::string(blob_take(in, n), (size_t)n);
}

std::vector<float> blob_floats(BlobReader& in) {
    const uint64_t n = blob_u64(in);
    if (n > in.blob.size() / sizeof(float)) fail("gathered blob", "float count " + std::to_string(n) + " exceeds its size");
    std::vector<float> values((size_t)n);
    const char* bytes = blob_take(in, n * sizeof(float));
    if (n > 0) std::memcpy(values.data(), bytes, (size_t)n * sizeof(float));
    return values;
}
