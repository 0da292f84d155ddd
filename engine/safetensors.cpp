// safetensors.cpp — see safetensors.h. Validation follows the reference library (huggingface/safetensors,
// Metadata::validate): sorted by begin, the byte ranges must tile the data section exactly — the first
// starts at 0, each starts where the previous ended, the last ends at the end of the file. So gaps and
// trailing bytes are errors, as are overlaps. Every error names the file and, where one is at fault, the
// tensor.
#include "engine/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"

using json = nlohmann::json;

// ---- dtypes ------------------------------------------------------------------------------------

struct DtypeSpec {
    const char* name;
    size_t size;
    int order;  // the position in the reference library's Dtype enum; writing sorts by it, descending
};

static const DtypeSpec kDtypes[] = {
    {"BOOL", 1, 0}, {"U8", 1, 1},   {"I8", 1, 2},   {"F8_E5M2", 1, 3}, {"F8_E4M3", 1, 4},
    {"I16", 2, 5},  {"U16", 2, 6},  {"F16", 2, 7},  {"BF16", 2, 8},    {"I32", 4, 9},
    {"U32", 4, 10}, {"F32", 4, 11}, {"F64", 8, 12}, {"I64", 8, 13},    {"U64", 8, 14},
};

static const DtypeSpec* find_dtype(const std::string& name) {
    for (const DtypeSpec& spec : kDtypes) {
        if (name == spec.name) return &spec;
    }
    return nullptr;
}

static const char* safetensors_dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32: return "F32";
        case DType::BF16: return "BF16";
        case DType::I32: return "I32";
        case DType::U8: return "U8";
    }
    return "?";
}

// ---- reading -----------------------------------------------------------------------------------

static std::string tensor_where(const std::string& name) { return "tensor '" + name + "': "; }

static std::string offsets_str(uint64_t begin, uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// A JSON value that must be a non-negative integer; `what` names it in the error.
static uint64_t read_unsigned(const json& value, const std::string& path, const std::string& what) {
    if (!value.is_number_unsigned()) {
        fail(path, what + " must be a non-negative integer (got " + value.dump() + ")");
    }
    return value.get<uint64_t>();
}

static SafeTensorInfo parse_tensor_info(const std::string& path, const std::string& name, const json& entry,
                                        uint64_t data_size) {
    std::string where = tensor_where(name);
    if (!entry.is_object()) fail(path, where + "entry must be a JSON object (got " + entry.dump() + ")");
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
        if (!entry.contains(key)) fail(path, where + "missing \"" + key + "\"");
    }
    SafeTensorInfo info;
    const json& dtype = entry["dtype"];
    if (!dtype.is_string()) fail(path, where + "dtype must be a string (got " + dtype.dump() + ")");
    info.dtype = dtype.get<std::string>();
    const DtypeSpec* spec = find_dtype(info.dtype);
    if (!spec) {
        fail(path, where + "unknown dtype '" + info.dtype +
                       "' (expected one of BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64)");
    }

    const json& shape = entry["shape"];
    if (!shape.is_array()) fail(path, where + "shape must be an array (got " + shape.dump() + ")");
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& dim : shape) {
        uint64_t size = read_unsigned(dim, path, where + "shape entry");
        // Shapes are int64 in the engine and their product is taken left to right: keep every partial
        // product within int64, or a later zero would hide an overflow from the check below.
        if (size > (uint64_t)INT64_MAX || (size != 0 && numel > (uint64_t)INT64_MAX / size)) overflow = true;
        numel *= size;
        info.shape.push_back((int64_t)size);
    }
    if (overflow || numel > (uint64_t)INT64_MAX / spec->size) {
        fail(path, where + "shape " + shape_str(info.shape) + " is too large to address");
    }

    const json& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2) {
        fail(path, where + "data_offsets must be [begin, end] (got " + offsets.dump() + ")");
    }
    info.begin = read_unsigned(offsets[0], path, where + "data_offsets begin");
    info.end = read_unsigned(offsets[1], path, where + "data_offsets end");
    if (info.begin > info.end) {
        fail(path, where + "data_offsets " + offsets_str(info.begin, info.end) + " have begin > end");
    }
    if (info.end > data_size) {
        fail(path, where + "data_offsets " + offsets_str(info.begin, info.end) +
                       " run past the end of the file (the data section holds " + std::to_string(data_size) +
                       " bytes)");
    }
    uint64_t expected_bytes = numel * spec->size;
    if (info.end - info.begin != expected_bytes) {
        fail(path, where + "shape " + shape_str(info.shape) + " of " + info.dtype + " needs " +
                       std::to_string(expected_bytes) + " bytes, but data_offsets " +
                       offsets_str(info.begin, info.end) + " hold " + std::to_string(info.end - info.begin));
    }
    return info;
}

static std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
    if (!value.is_object()) fail(path, "__metadata__ must be an object of strings (got " + value.dump() + ")");
    std::map<std::string, std::string> metadata;
    for (auto it = value.begin(); it != value.end(); ++it) {
        if (!it.value().is_string()) {
            fail(path, "__metadata__ value of '" + it.key() + "' must be a string (got " + it.value().dump() + ")");
        }
        metadata[it.key()] = it.value().get<std::string>();
    }
    return metadata;
}

// The ranges, sorted by begin, must tile [0, data_size) with no overlap and no gap.
static void check_tiling(const std::string& path, const std::map<std::string, SafeTensorInfo>& tensors,
                         uint64_t data_size) {
    std::vector<std::pair<const std::string*, const SafeTensorInfo*>> by_offset;
    for (const auto& entry : tensors) by_offset.push_back({&entry.first, &entry.second});
    std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
        if (a.second->begin != b.second->begin) return a.second->begin < b.second->begin;
        return a.second->end < b.second->end;
    });
    uint64_t expected_begin = 0;
    const std::string* previous = nullptr;
    for (const auto& [name, info] : by_offset) {
        std::string range = offsets_str(info->begin, info->end);
        if (info->begin < expected_begin) {
            fail(path, tensor_where(*name) + "data_offsets " + range + " overlap tensor '" + *previous +
                           "' (expected begin " + std::to_string(expected_begin) + ")");
        }
        if (info->begin > expected_begin) {
            fail(path, tensor_where(*name) + "data_offsets " + range + " leave a gap of " +
                           std::to_string(info->begin - expected_begin) + " bytes before them (expected begin " +
                           std::to_string(expected_begin) + "; the offsets must cover the data contiguously)");
        }
        expected_begin = info->end;
        previous = name;
    }
    if (expected_begin != data_size) {
        fail(path, "the tensors cover " + std::to_string(expected_begin) + " bytes of data, but the file has " +
                       std::to_string(data_size) + " after the header (trailing bytes)");
    }
}

SafeTensorsFile safetensors_open(const std::string& path) {
    SafeTensorsFile file;
    file.path = path;
    file.mapping = map_file(path);
    uint64_t file_size = file.mapping->size;
    if (file_size < 8) {
        fail(path, "file is " + std::to_string(file_size) +
                       " bytes, too short for a safetensors file (expected at least the 8-byte header length)");
    }
    const uint8_t* bytes = file.mapping->data;
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--) header_size = (header_size << 8) | bytes[i];  // little-endian u64
    if (header_size > file_size - 8) {
        fail(path, "header length " + std::to_string(header_size) + " runs past the end of the file (expected at most " +
                       std::to_string(file_size - 8) + ")");
    }
    const char* header = (const char*)bytes + 8;
    json root;
    try {
        root = json::parse(header, header + header_size);
    } catch (const json::exception& error) {  // parse_error, and out_of_range for a number like 1e99999
        fail(path, std::string("header is not valid JSON (") + error.what() + ")");
    }
    if (!root.is_object()) fail(path, "header must be a JSON object (got " + std::string(root.type_name()) + ")");

    uint64_t data_size = file_size - 8 - header_size;
    file.data_section = bytes + 8 + header_size;
    for (auto it = root.begin(); it != root.end(); ++it) {
        if (it.key() == "__metadata__") {
            file.metadata = parse_metadata(path, it.value());
        } else {
            file.tensors[it.key()] = parse_tensor_info(path, it.key(), it.value(), data_size);
        }
    }
    check_tiling(path, file.tensors, data_size);
    return file;
}

bool SafeTensorsFile::has(const std::string& name) const { return tensors.count(name) != 0; }

std::vector<std::string> SafeTensorsFile::names() const {
    std::vector<std::string> result;
    for (const auto& entry : tensors) result.push_back(entry.first);
    return result;
}

float f16_to_f32(uint16_t half) {
    uint32_t sign = (uint32_t)(half >> 15) << 31;
    uint32_t exponent = (half >> 10) & 0x1f;
    uint32_t mantissa = half & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);  // inf or nan
    } else if (exponent != 0) {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;  // signed zero
    } else {
        // Subnormal half: value = mantissa * 2^-24, which is a normal float.
        float value = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -value : value;
    }
    float result;
    std::memcpy(&result, &bits, sizeof(result));
    return result;
}

Tensor SafeTensorsFile::get(const std::string& name) const {
    auto found = tensors.find(name);
    if (found == tensors.end()) {
        fail(path, "no tensor named '" + name + "' (the file holds " + std::to_string(tensors.size()) + " tensors)");
    }
    const SafeTensorInfo& info = found->second;
    uint8_t* source = (uint8_t*)data_section + info.begin;
    size_t bytes = info.end - info.begin;
    int64_t numel = shape_numel(info.shape);

    Tensor result;
    DType view_dtype = DType::F32;
    bool viewable = true;
    if (info.dtype == "F32") view_dtype = DType::F32;
    else if (info.dtype == "BF16") view_dtype = DType::BF16;
    else if (info.dtype == "I32") view_dtype = DType::I32;
    else if (info.dtype == "U8" || info.dtype == "BOOL") view_dtype = DType::U8;
    else viewable = false;

    if (viewable) {
        if ((uintptr_t)source % dtype_size(view_dtype) == 0) {
            result = tensor_view(info.shape, view_dtype, source, mapping);
        } else {  // a misaligned pointer of the element type would be undefined behaviour: copy instead
            result = tensor_empty(info.shape, view_dtype);
            std::memcpy(result.raw(), source, bytes);
        }
    } else if (info.dtype == "F16") {
        result = tensor_empty(info.shape, DType::F32);
        float* out = result.f32();
        for (int64_t i = 0; i < numel; i++) {
            uint16_t half;
            std::memcpy(&half, source + 2 * i, 2);
            out[i] = f16_to_f32(half);
        }
    } else if (info.dtype == "I64") {
        // HF datasets and torch store token ids as int64; the engine indexes with int32.
        result = tensor_empty(info.shape, DType::I32);
        int32_t* out = result.i32();
        for (int64_t i = 0; i < numel; i++) {
            int64_t value;
            std::memcpy(&value, source + 8 * i, 8);
            if (value < INT32_MIN || value > INT32_MAX) {
                fail(path, tensor_where(name) + "I64 element " + std::to_string(i) + " = " + std::to_string(value) +
                               " does not fit in int32");
            }
            out[i] = (int32_t)value;
        }
    } else {
        fail(path, tensor_where(name) + "dtype " + info.dtype +
                       " is not supported (expected F32, BF16, F16, I32, I64, U8 or BOOL)");
    }
    result.data->name = name;
    return result;
}

// ---- writing -----------------------------------------------------------------------------------

struct TensorToWrite {
    std::string name;
    Tensor host;  // the tensor on the CPU
    const DtypeSpec* spec;
    uint64_t bytes;
};

// Checks the inputs and puts them in the reference library's order: dtype descending, then name.
static std::vector<TensorToWrite> order_for_writing(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                    const char* where) {
    std::vector<TensorToWrite> ordered;
    for (const auto& [name, tensor] : tensors) {
        if (name == "__metadata__") fail(where, "'__metadata__' is reserved and cannot name a tensor");
        if (!tensor.defined()) fail(where, tensor_where(name) + "is undefined");
        const DtypeSpec* spec = find_dtype(safetensors_dtype_name(tensor.dtype()));
        Tensor host = tensor_to_device(tensor, Device::CPU);
        ordered.push_back({name, host, spec, (uint64_t)host.numel() * spec->size});
    }
    std::sort(ordered.begin(), ordered.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
        if (a.spec->order != b.spec->order) return a.spec->order > b.spec->order;
        return a.name < b.name;
    });
    for (size_t i = 1; i < ordered.size(); i++) {
        if (ordered[i].name == ordered[i - 1].name) fail(where, tensor_where(ordered[i].name) + "given twice");
    }
    return ordered;
}

// A JSON string literal, escaped as serde_json does (quote, backslash, control characters).
static std::string json_string(const std::string& text, const char* where) {
    try {
        return json(text).dump();
    } catch (const json::type_error&) {
        fail(where, "name or metadata '" + text + "' is not valid UTF-8");
    }
}

// Compact JSON in the reference library's key order: __metadata__ first, then each tensor's
// {"dtype","shape","data_offsets"}; spaces pad it to a multiple of 8 bytes.
static std::string header_for(const std::vector<TensorToWrite>& ordered,
                              const std::map<std::string, std::string>& metadata, const char* where) {
    std::string header = "{";
    bool first = true;
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        for (const auto& [key, value] : metadata) {
            if (!first) header += ",";
            header += json_string(key, where) + ":" + json_string(value, where);
            first = false;
        }
        header += "}";
        first = false;
    }
    uint64_t offset = 0;
    for (const TensorToWrite& tensor : ordered) {
        if (!first) header += ",";
        first = false;
        header += json_string(tensor.name, where) + ":{\"dtype\":\"" + tensor.spec->name + "\",\"shape\":[";
        for (int i = 0; i < tensor.host.ndim(); i++) {
            if (i > 0) header += ",";
            header += std::to_string(tensor.host.dim(i));
        }
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + tensor.bytes) + "]}";
        offset += tensor.bytes;
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    return header;
}

std::string safetensors_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
    return header_for(order_for_writing(tensors, "safetensors_header"), metadata, "safetensors_header");
}

void safetensors_save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::vector<TensorToWrite> ordered = order_for_writing(tensors, path.c_str());
    std::string header = header_for(ordered, metadata, path.c_str());
    uint8_t length[8];
    uint64_t header_size = header.size();
    for (int i = 0; i < 8; i++) length[i] = (uint8_t)(header_size >> (8 * i));  // little-endian u64

    AtomicWriter writer(path);
    writer.write(length, sizeof(length));
    writer.write(header.data(), header.size());
    for (const TensorToWrite& tensor : ordered) writer.write(tensor.host.raw(), tensor.bytes);
    writer.commit();
}
