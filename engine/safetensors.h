// safetensors.h — HF's safetensors format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the raw
// little-endian data. Reading maps the file and validates the whole header up front; F32, BF16, I32
// and U8 tensors come back as views into the mapping (no copy). Writing produces the same bytes as the
// reference Rust/Python library. Not here: sharded checkpoints (*.index.json), big-endian machines.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/fileio.h"
#include "engine/tensor.h"

// One entry of the header, as the file states it.
struct SafeTensorInfo {
    std::string dtype;            // "F32", "BF16", "I64", ... as spelled in the file
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte range relative to the start of the data section
};

struct SafeTensorsFile {
    std::string path;
    std::shared_ptr<MappedFile> mapping;
    const uint8_t* data_section = nullptr;   // first byte after the header
    std::map<std::string, SafeTensorInfo> tensors;
    std::map<std::string, std::string> metadata;  // "__metadata__" ({} when absent)

    bool has(const std::string& name) const;
    std::vector<std::string> names() const;  // sorted
    // F32, BF16, I32, U8 (and BOOL as U8): a view into the mapping, or a copy when the data is not
    // aligned for its type. F16 -> F32 copy. I64 -> I32 copy, failing on values outside int32.
    // Other dtypes fail with a message naming the file and tensor.
    Tensor get(const std::string& name) const;
};

SafeTensorsFile safetensors_open(const std::string& path);

// IEEE binary16 -> f32, exact for every half (subnormals become normal floats; inf and nan keep their
// sign and payload), by hand so that no compiler extension (_Float16) is needed.
float f16_to_f32(uint16_t half);

// Writes the tensors (any device; F32, BF16, I32, U8) and string metadata to `path` atomically.
// Layout as the reference library: tensors ordered by dtype (8-byte types first, then 4, 2, 1), then
// by name; header JSON padded with spaces to a multiple of 8 bytes, so that data is 8-byte aligned.
// Empty metadata writes no "__metadata__" key.
void safetensors_save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The header bytes safetensors_save would write (length prefix excluded), for tests and tools.
std::string safetensors_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata);
