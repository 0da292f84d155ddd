// load_device.cpp — see load_device.h. Three passes over a HF directory: (1) the shard headers, turned
// into placeholder tensors (shape and target dtype, no memory); (2) the model builders check names and
// shapes on the placeholders, so a wrong checkpoint fails before a byte goes to the device; (3) the
// tensors the model kept are streamed in file order, each into a fresh device buffer that its placeholder
// then adopts (the model's handles share the placeholder, so they see the buffer).
#include "models/load_device.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/checkpoint.h"

namespace {

// Where one tensor's bytes lie.
struct TensorSource {
    std::string shard;  // the safetensors file
    uint64_t file_offset = 0;  // of its first byte, from the start of the file
    std::string dtype;  // as the file spells it: "F32", "F16", "BF16", ...
    std::vector<int64_t> shape;
};

bool is_float_source(const std::string& dtype) { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }

size_t source_element_size(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }  // float sources only

DType stored_dtype(const std::string& name, int ndim, bool bf16_frozen) {
    // Backbone weights are frozen at load, so "frozen 2-D" is every matrix that is not a PET tensor.
    return bf16_frozen && ndim == 2 && !is_pet_tensor_name(name) ? DType::BF16 : DType::F32;
}

// The dtype the model builders see. Non-float sources keep the dtype load_pretrained_model would give
// them, so that take_weight rejects them with the same message.
DType placeholder_dtype(const std::string& name, const TensorSource& source, bool bf16_frozen) {
    if (is_float_source(source.dtype)) return stored_dtype(name, (int)source.shape.size(), bf16_frozen);
    if (source.dtype == "I32" || source.dtype == "I64") return DType::I32;
    return DType::U8;
}

// A tensor with a shape, a dtype and a device but no memory yet.
Tensor placeholder(const std::string& name, const std::vector<int64_t>& shape, DType dtype, Device device) {
    Tensor t;
    t.data = std::make_shared<TensorData>();
    t.data->shape = shape;
    t.data->dtype = dtype;
    t.data->buffer = std::make_shared<Buffer>();
    t.data->buffer->device = device;
    t.data->name = name;
    return t;
}

// One shard opened for reading (closed by the destructor).
struct ShardReader {
    std::string path;
    int fd = -1;

    explicit ShardReader(const std::string& shard_path) : path(shard_path) {
        fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(path, std::string("cannot open for reading (") + std::strerror(errno) + ")");
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint for read-ahead; failure is harmless
    }
    ~ShardReader() { close(fd); }
    ShardReader(const ShardReader&) = delete;
    ShardReader& operator=(const ShardReader&) = delete;

    // pread, not the mapping: the bytes land in the staging buffer and leave no resident file pages in
    // this process (the page cache keeps them, shared and reclaimable, outside our RSS).
    void read_at(void* destination, size_t bytes, uint64_t offset, const std::string& tensor) {
        uint8_t* out = (uint8_t*)destination;
        while (bytes > 0) {
            ssize_t got = pread(fd, out, bytes, (off_t)offset);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) fail(path, "tensor " + tensor + ": read failed (" + std::strerror(errno) + ")");
            if (got == 0) {
                fail(path, "tensor " + tensor + ": the file ends at byte " + std::to_string(offset) +
                               ", inside the tensor's data (was it truncated after the header was read?)");
            }
            out += got;
            offset += (uint64_t)got;
            bytes -= (size_t)got;
        }
    }
};

// The host staging buffer: a chunk is read into `raw`, converted into `converted` when the dtypes differ,
// and copied to the device from whichever holds the result. Both halves hold `elements` f32.
struct Staging {
    size_t elements = 0;
    std::unique_ptr<float[]> raw, converted;  // uninitialised: pages become resident only as they are used
};

// Converts `count` elements of raw (file dtype) into the target dtype; returns where the result is.
const void* convert_chunk(const std::string& source_dtype, DType target, Staging& staging, size_t count) {
    void* raw = staging.raw.get();
    float* converted = staging.converted.get();
    if (source_dtype == "F32") {
        if (target == DType::F32) return raw;
        // The CPU kernel of tensor_to_bf16: the same rounding as model_frozen_weights_to_bf16.
        cpu_kernels.f32_to_bf16((bf16*)converted, (const float*)raw, count);
        return converted;
    }
    if (source_dtype == "BF16") {
        if (target == DType::BF16) return raw;
        cpu_kernels.bf16_to_f32(converted, (const bf16*)raw, count);
        return converted;
    }
    // F16: decode to f32 (exact), then round once to bf16 when asked (into raw, whose f16 is consumed).
    const uint16_t* half = (const uint16_t*)raw;
    for (size_t i = 0; i < count; i++) converted[i] = f16_to_f32(half[i]);
    if (target == DType::F32) return converted;
    cpu_kernels.f32_to_bf16((bf16*)raw, converted, count);
    return raw;
}

// Streams one tensor from its shard into `destination` (its device buffer, already allocated).
void upload_tensor(ShardReader& reader, const TensorSource& source, const Tensor& destination, Staging& staging) {
    size_t n = (size_t)destination.numel();
    size_t source_size = source_element_size(source.dtype), target_size = dtype_size(destination.dtype());
    for (size_t done = 0; done < n;) {
        size_t count = std::min(staging.elements, n - done);
        reader.read_at(staging.raw.get(), count * source_size, source.file_offset + done * source_size,
                       destination.name());
        const void* result = convert_chunk(source.dtype, destination.dtype(), staging, count);
        copy_bytes((uint8_t*)destination.raw() + done * target_size, destination.device(), result, Device::CPU,
                   count * target_size);
        done += count;
    }
}

std::string allocation_label(const Tensor& t, const std::string& path) {
    return "weight " + t.name() + " " + shape_str(t.shape()) + " " + dtype_name(t.dtype()) + " of checkpoint " +
           path;
}

bool is_directory(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A llama2.c .bin: no shards to stream from, so the mapped tensors move one at a time (each converted
// on the host first when its dtype changes: at most one tensor's copy at a time).
Model load_mapped_onto(const std::string& path, Device device, const DeviceLoadOptions& options,
                       DeviceLoadReport& report) {
    WeightMap extras;
    Model model = load_pretrained_model(path, &extras);
    auto move = [&](Tensor& t, DType target) {
        size_t bytes = (size_t)t.numel() * dtype_size(t.dtype());
        if (bytes > report.largest_tensor_bytes) {
            report.largest_tensor_bytes = bytes;
            report.largest_tensor = t.name();
        }
        Tensor converted = t.dtype() == target ? t : target == DType::BF16 ? tensor_to_bf16(t) : tensor_to_f32(t);
        DeviceAllocLabel label(allocation_label(converted, path));
        Tensor moved = tensor_to_device(converted, device);
        moved.data->name = t.name();
        moved.data->requires_grad = false;
        report.tensors++;
        report.file_bytes_read += bytes;
        report.device_bytes += (size_t)moved.numel() * dtype_size(moved.dtype());
        t = moved;
    };
    for (NamedWeight& weight : model_weights(model)) {
        Tensor& t = *weight.tensor;
        move(t, stored_dtype(t.name(), t.ndim(), options.bf16_frozen));
    }
    if (options.extra_tensors) {
        for (auto& entry : extras) {
            if (entry.second.dtype() == DType::F32 || entry.second.dtype() == DType::BF16) move(entry.second, DType::F32);
            (*options.extra_tensors)[entry.first] = entry.second;
        }
    }
    return model;
}

}  // namespace

Model load_pretrained_model_on(const std::string& path, Device device, const DeviceLoadOptions& options,
                               DeviceLoadReport* report) {
    DeviceLoadReport local_report;
    DeviceLoadReport& r = report ? *report : local_report;
    r = DeviceLoadReport{};
    kernels_for(device);  // a CUDA device in a build without the backend fails here, before any work
    if (!is_directory(path)) return load_mapped_onto(path, device, options, r);

    // (1) Headers only: safetensors_open maps the shard but reads no data page; the mapping goes with `file`.
    Checkpoint checkpoint = read_hf_config(path);
    std::map<std::string, TensorSource> sources;
    WeightLoad load;
    load.where = path;
    std::set<std::string> seen;
    for (const HfShard& shard : hf_safetensors_shards(path)) {
        SafeTensorsFile file = safetensors_open(shard.path);
        uint64_t data_start = (uint64_t)(file.data_section - file.mapping->data);
        for (const std::string& name : hf_shard_tensor_names(shard, file, seen)) {
            const SafeTensorInfo& info = file.tensors.at(name);
            TensorSource source{shard.path, data_start + info.begin, info.dtype, info.shape};
            load.remaining[name] =
                placeholder(name, info.shape, placeholder_dtype(name, source, options.bf16_frozen), device);
            sources[name] = source;
        }
    }

    // (2) Names and shapes, with load_pretrained_model's errors.
    Model model;
    model.kind = checkpoint.kind;
    WeightMap extras;
    if (checkpoint.kind == ModelKind::T5) {
        model.t5 = t5_from_weights(checkpoint.t5_config, load, &extras);
    } else {
        model.llama = llama_from_weights(checkpoint.llama_config, load, &extras);
    }

    // (3) What the model kept (aliases and ignored buffers are never read), in file order so that each
    // shard is read front to back.
    std::vector<Tensor> uploads;
    std::set<TensorData*> listed;
    for (NamedWeight& weight : model_weights(model)) {
        if (listed.insert(weight.tensor->data.get()).second) uploads.push_back(*weight.tensor);
    }
    if (options.extra_tensors) {
        for (auto& entry : extras) uploads.push_back(entry.second);
    }
    std::sort(uploads.begin(), uploads.end(), [&](const Tensor& a, const Tensor& b) {
        const TensorSource &x = sources.at(a.name()), &y = sources.at(b.name());
        return x.shard != y.shard ? x.shard < y.shard : x.file_offset < y.file_offset;
    });
    size_t largest_elements = 1;
    for (const Tensor& t : uploads) {
        const TensorSource& source = sources.at(t.name());
        if (!is_float_source(source.dtype)) {
            fail(source.shard, "tensor " + t.name() + ": dtype " + source.dtype +
                                   " cannot be loaded as a weight (expected F32, F16 or BF16)");
        }
        size_t bytes = (size_t)t.numel() * source_element_size(source.dtype);
        if (bytes > r.largest_tensor_bytes || r.largest_tensor.empty()) {
            r.largest_tensor_bytes = bytes;
            r.largest_tensor = t.name();
        }
        largest_elements = std::max(largest_elements, (size_t)t.numel());
    }

    Staging staging;
    staging.elements = std::max<size_t>(1, std::min(options.staging_bytes / 8, largest_elements));
    staging.raw.reset(new float[staging.elements]);
    staging.converted.reset(new float[staging.elements]);
    r.staging_bytes = staging.elements * 8;

    std::unique_ptr<ShardReader> reader;
    for (Tensor& t : uploads) {
        const TensorSource& source = sources.at(t.name());
        if (!reader || reader->path != source.shard) reader = std::make_unique<ShardReader>(source.shard);
        Tensor destination;
        {
            DeviceAllocLabel label(allocation_label(t, path));
            destination = tensor_empty(t.shape(), t.dtype(), device);
        }
        destination.data->name = t.name();
        upload_tensor(*reader, source, destination, staging);
        t.data->buffer = destination.data->buffer;  // the placeholder, shared by the model, adopts the memory
        t.data->offset = 0;
        r.tensors++;
        r.file_bytes_read += (size_t)t.numel() * source_element_size(source.dtype);
        r.device_bytes += (size_t)t.numel() * dtype_size(t.dtype());
    }
    if (options.extra_tensors) {
        for (auto& entry : extras) (*options.extra_tensors)[entry.first] = entry.second;
    }
    return model;
}

Model load_pretrained_model_on(const std::string& path, Device device, bool bf16_frozen) {
    DeviceLoadOptions options;
    options.bf16_frozen = bf16_frozen;
    return load_pretrained_model_on(path, device, options);
}
