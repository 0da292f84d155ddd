// test_safetensors.cpp — safetensors read/write: round trips, the exact bytes the reference library
// writes, every malformed header rejected with a message naming the file and the problem, dtype
// conversions on load, the real SAPT fixture, and the atomic-write helpers underneath.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/sapt_test_safetensors_XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return path + "/" + name; }
    // Files whose name ends in .tmp: what an interrupted or abandoned atomic write would leave.
    int temporaries() const {
        int count = 0;
        for (const auto& entry : std::filesystem::directory_iterator(path)) {
            const std::string name = entry.path().filename().string();
            count += name.size() >= 4 && name.compare(name.size() - 4, 4, ".tmp") == 0 ? 1 : 0;
        }
        return count;
    }
};

static std::string u64_le(uint64_t value) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; i++) bytes[i] = (char)(value >> (8 * i));
    return bytes;
}

// A file made by hand: the declared header length (default: the real one), the header, the data.
static std::string write_raw(const TempDir& dir, const std::string& header, const std::string& data,
                             int64_t declared_length = -1) {
    std::string path = dir.file("raw.safetensors");
    uint64_t length = declared_length < 0 ? header.size() : (uint64_t)declared_length;
    atomic_write_file(path, u64_le(length) + header + data);
    return path;
}

static std::string f32_bytes(const std::vector<float>& values) {
    return std::string((const char*)values.data(), values.size() * sizeof(float));
}

TEST_CASE("safetensors round-trips f32, bf16, i32 and u8 tensors with metadata", "[safetensors]") {
    TempDir dir;
    Tensor weight = tensor_from({2, 3}, {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e30f});
    Tensor half = tensor_to_bf16(tensor_from({4}, {1.0f, -0.5f, 3.0f, 1024.0f}));
    Tensor ids = tensor_from_i32({3}, {7, -1, 2147483647});
    Tensor mask = tensor_zeros({2, 2}, DType::U8);
    mask.u8()[1] = 1;
    std::string path = dir.file("model.safetensors");
    safetensors_save(path, {{"w", weight}, {"h", half}, {"ids", ids}, {"mask", mask}}, {{"format", "pt"}});

    SafeTensorsFile file = safetensors_open(path);
    CHECK(file.names() == std::vector<std::string>{"h", "ids", "mask", "w"});
    CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}});
    CHECK(file.has("w"));
    CHECK_FALSE(file.has("x"));

    Tensor w = file.get("w");
    CHECK(w.dtype() == DType::F32);
    CHECK(w.shape() == std::vector<int64_t>{2, 3});
    CHECK(w.name() == "w");
    CHECK(tensor_values(w) == tensor_values(weight));
    // A view: its bytes lie inside the mapping, no copy was made.
    const uint8_t* mapped = file.mapping->data;
    CHECK((const uint8_t*)w.raw() >= mapped);
    CHECK((const uint8_t*)w.raw() < mapped + file.mapping->size);

    Tensor h = file.get("h");
    CHECK(h.dtype() == DType::BF16);
    CHECK(std::memcmp(h.raw(), half.raw(), 8) == 0);
    Tensor i = file.get("ids");
    CHECK(i.dtype() == DType::I32);
    CHECK(std::vector<int32_t>(i.i32(), i.i32() + 3) == std::vector<int32_t>{7, -1, 2147483647});
    Tensor m = file.get("mask");
    CHECK(m.dtype() == DType::U8);
    CHECK(std::vector<uint8_t>(m.u8(), m.u8() + 4) == std::vector<uint8_t>{0, 1, 0, 0});
}

TEST_CASE("a view outlives the SafeTensorsFile it came from", "[safetensors]") {
    TempDir dir;
    std::string path = dir.file("a.safetensors");
    safetensors_save(path, {{"x", tensor_from({3}, {1, 2, 3})}});
    Tensor x;
    {
        SafeTensorsFile file = safetensors_open(path);
        x = file.get("x");
    }
    CHECK(tensor_values(x) == std::vector<float>{1, 2, 3});
}

TEST_CASE("safetensors_save writes the reference library's exact bytes", "[safetensors]") {
    // Expected bytes are the test vectors of huggingface/safetensors (tensor.rs: test_serialization,
    // test_serialization_forced_alignement, test_empty).
    TempDir dir;
    std::vector<float> values = {0, 1, 2, 3, 4, 5};

    std::string path = dir.file("one.safetensors");
    safetensors_save(path, {{"attn.0", tensor_from({1, 2, 3}, values)}});
    std::string header = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    REQUIRE(header.size() == 64);  // already a multiple of 8: no padding
    CHECK(read_file(path) == u64_le(64) + header + f32_bytes(values));

    safetensors_save(path, {{"attn0", tensor_from({1, 1, 2, 3}, values)}});
    std::string padded = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
    REQUIRE(padded.size() == 72);  // 65 bytes of JSON + 7 spaces
    CHECK(read_file(path) == u64_le(72) + padded + f32_bytes(values));

    safetensors_save(path, {});
    CHECK(read_file(path) == u64_le(8) + "{}      ");
    safetensors_save(path, {}, {{"framework", "pt"}});
    CHECK(read_file(path) == u64_le(40) + "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
}

TEST_CASE("safetensors_save orders tensors by dtype, then name, like the reference library", "[safetensors]") {
    std::string header = safetensors_header({{"a_u8", tensor_zeros({1}, DType::U8)},
                                             {"b_bf16", tensor_zeros({1}, DType::BF16)},
                                             {"c_i32", tensor_zeros({1}, DType::I32)},
                                             {"z_f32", tensor_zeros({1})},
                                             {"y_f32", tensor_zeros({1})}},
                                            {});
    CHECK(header ==
          "{\"y_f32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"z_f32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
          "\"c_i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
          "\"b_bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]},"
          "\"a_u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[14,15]}}     ");  // 291 + 5 = 296
    CHECK(header.size() % 8 == 0);
}

TEST_CASE("safetensors_save refuses duplicate, reserved and undefined entries", "[safetensors]") {
    TempDir dir;
    std::string path = dir.file("bad.safetensors");
    Tensor t = tensor_zeros({1});
    CHECK_THROWS_WITH(safetensors_save(path, {{"a", t}, {"a", t}}), Catch::Contains("'a': given twice"));
    CHECK_THROWS_WITH(safetensors_save(path, {{"__metadata__", t}}), Catch::Contains("reserved"));
    CHECK_THROWS_WITH(safetensors_save(path, {{"u", Tensor()}}), Catch::Contains("'u': is undefined"));
    CHECK_FALSE(path_exists(path));
    CHECK(dir.temporaries() == 0);
}

TEST_CASE("malformed safetensors files fail with the file and the problem named", "[safetensors]") {
    TempDir dir;
    std::string data24(24, '\0');
    auto tensor_entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                           const std::string& offsets) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    };

    SECTION("a file shorter than the 8-byte length") {
        std::string path = dir.file("short.safetensors");
        atomic_write_file(path, "abcde");
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("file is 5 bytes, too short"));
    }
    SECTION("a header length beyond the file") {
        std::string path = write_raw(dir, "{}", "", 1000);
        CHECK_THROWS_WITH(safetensors_open(path),
                          Catch::Contains(path) && Catch::Contains("header length 1000 runs past the end of the file"));
    }
    SECTION("a header that is not JSON") {
        std::string path = write_raw(dir, "{\"a\": [1, 2", "");
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("header is not valid JSON"));
    }
    SECTION("a header that is JSON but not an object") {
        std::string path = write_raw(dir, "[1, 2]", "");
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("header must be a JSON object"));
    }
    SECTION("an unknown dtype") {
        std::string path = write_raw(dir, "{" + tensor_entry("w", "F99", "[6]", "[0,24]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("tensor 'w': unknown dtype 'F99'"));
    }
    SECTION("a shape that does not match the byte range") {
        std::string path = write_raw(dir, "{" + tensor_entry("w", "F32", "[2,2]", "[0,24]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path),
                          Catch::Contains(path) && Catch::Contains("tensor 'w': shape (2, 2) of F32 needs 16 bytes") &&
                              Catch::Contains("hold 24"));
    }
    SECTION("data_offsets beyond the file") {
        std::string path = write_raw(dir, "{" + tensor_entry("w", "F32", "[8]", "[0,32]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path),
                          Catch::Contains(path) && Catch::Contains("tensor 'w': data_offsets [0, 32] run past the end"));
    }
    SECTION("data_offsets with begin > end") {
        std::string path = write_raw(dir, "{" + tensor_entry("w", "F32", "[0]", "[8,4]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("tensor 'w'") &&
                                                      Catch::Contains("begin > end"));
    }
    SECTION("overlapping data_offsets") {
        std::string header = "{" + tensor_entry("a", "F32", "[4]", "[0,16]") + "," +
                             tensor_entry("b", "F32", "[4]", "[8,24]") + "}";
        std::string path = write_raw(dir, header, data24);
        CHECK_THROWS_WITH(safetensors_open(path),
                          Catch::Contains(path) && Catch::Contains("tensor 'b': data_offsets [8, 24] overlap tensor 'a'"));
    }
    SECTION("a gap between tensors (the offsets must tile the data section)") {
        std::string header = "{" + tensor_entry("a", "F32", "[2]", "[0,8]") + "," +
                             tensor_entry("b", "F32", "[2]", "[16,24]") + "}";
        std::string path = write_raw(dir, header, data24);
        CHECK_THROWS_WITH(safetensors_open(path),
                          Catch::Contains(path) && Catch::Contains("tensor 'b'") && Catch::Contains("gap of 8 bytes"));
    }
    SECTION("bytes after the last tensor") {
        std::string path = write_raw(dir, "{" + tensor_entry("a", "F32", "[4]", "[0,16]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("trailing bytes"));
    }
    SECTION("a negative shape entry") {
        std::string path = write_raw(dir, "{" + tensor_entry("w", "F32", "[-6]", "[0,24]") + "}", data24);
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains("tensor 'w': shape entry must be a non-negative integer"));
    }
    SECTION("a tensor entry without data_offsets") {
        std::string path = write_raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[6]}}", data24);
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains("tensor 'w': missing \"data_offsets\""));
    }
    SECTION("__metadata__ with a non-string value") {
        std::string path = write_raw(dir, "{\"__metadata__\":{\"step\":3}}", "");
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("__metadata__ value of 'step'"));
    }
    SECTION("a file that does not exist") {
        std::string path = dir.file("missing.safetensors");
        CHECK_THROWS_WITH(safetensors_open(path), Catch::Contains(path) && Catch::Contains("cannot open"));
    }
}

TEST_CASE("get converts F16 and I64, copies misaligned data, and refuses other dtypes", "[safetensors]") {
    TempDir dir;
    // F16 1, -2, 0.5, the smallest subnormal 2^-24, +inf.
    const uint16_t halves[5] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00};
    const int64_t longs[3] = {5, -7, 32000};
    std::string data((const char*)halves, 10);
    data += std::string(6, '\0');  // the U8 tensor "pad"
    data += std::string((const char*)longs, 24);
    std::string header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                         "\"pad\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[10,16]},"
                         "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[16,40]},"
                         "\"d\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[40,40]}}";
    std::string path = write_raw(dir, header, data);
    SafeTensorsFile file = safetensors_open(path);

    Tensor h = file.get("h");
    CHECK(h.dtype() == DType::F32);
    std::vector<float> expected = {1.0f, -2.0f, 0.5f, std::ldexp(1.0f, -24), INFINITY};
    CHECK(tensor_values(h) == expected);

    Tensor ids = file.get("ids");
    CHECK(ids.dtype() == DType::I32);
    CHECK(std::vector<int32_t>(ids.i32(), ids.i32() + 3) == std::vector<int32_t>{5, -7, 32000});

    CHECK_THROWS_WITH(file.get("d"), Catch::Contains(path) && Catch::Contains("tensor 'd': dtype F64 is not supported"));
    CHECK_THROWS_WITH(file.get("nope"), Catch::Contains(path) && Catch::Contains("no tensor named 'nope'"));

    // An F32 tensor at an odd address (header length 3 mod 4) is copied rather than viewed.
    std::string odd_header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ";
    REQUIRE((8 + odd_header.size()) % 4 != 0);
    SafeTensorsFile odd = safetensors_open(write_raw(dir, odd_header, f32_bytes({2.5f, -4.0f})));
    CHECK(tensor_values(odd.get("w")) == std::vector<float>{2.5f, -4.0f});
}

TEST_CASE("I64 values outside int32 fail the load", "[safetensors]") {
    TempDir dir;
    const int64_t too_big[2] = {1, (int64_t)1 << 40};
    std::string path = write_raw(dir, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
                                 std::string((const char*)too_big, 16));
    SafeTensorsFile file = safetensors_open(path);
    CHECK_THROWS_WITH(file.get("ids"), Catch::Contains(path) && Catch::Contains("I64 element 1 = 1099511627776"));
}

TEST_CASE("the SAPT official fixture opens with its 132 tensors", "[safetensors]") {
    std::string path = shared_path("fixtures/sapt_official/a_t5_gatedgelu_prev2/model.safetensors");
    if (path.empty()) return;
    SafeTensorsFile file = safetensors_open(path);
    std::vector<std::string> names = file.names();
    CHECK(names.size() == 132);
    CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}});
    CHECK(names.front() == "decoder.block.0.layer.0.SelfAttention.k.weight");
    CHECK(names.back() == "shared.weight");
    for (const char* name : {"encoder.prompt_key", "encoder.previous_prompts_keys", "encoder.trans_input.0.weight",
                             "encoder.trans_input.3.bias", "lm_head.weight", "decoder.final_layer_norm.weight",
                             "encoder.block.1.layer.0.SelfAttention.previous_lora_weights_v.1.lora_B"}) {
        CHECK(file.has(name));
    }
    Tensor lora_a = file.get("encoder.block.0.layer.0.SelfAttention.lora_q.lora_A");
    CHECK(lora_a.dtype() == DType::F32);
    CHECK(lora_a.shape() == std::vector<int64_t>{4, 32});

    std::string io_path = shared_path("fixtures/sapt_official/a_t5_gatedgelu_prev2/io.safetensors");
    if (io_path.empty()) return;
    Tensor input_ids = safetensors_open(io_path).get("input_ids");  // stored as I64
    CHECK(input_ids.dtype() == DType::I32);
    CHECK(input_ids.shape() == std::vector<int64_t>{2, 9});
}

TEST_CASE("atomic writes replace the file whole and leave no temporary behind", "[safetensors][fileio]") {
    TempDir dir;
    std::string path = dir.file("state.bin");
    atomic_write_file(path, "first");
    atomic_write_file(path, "second version");
    CHECK(read_file(path) == "second version");
    CHECK(dir.temporaries() == 0);
    {
        AtomicWriter abandoned(path);
        abandoned.write("partial", 7);
    }  // destroyed without commit, as when an exception unwinds mid-save
    CHECK(read_file(path) == "second version");
    CHECK(dir.temporaries() == 0);
    CHECK_THROWS_WITH(atomic_write_file(dir.file("no/such/dir/x"), "x"), Catch::Contains("cannot create"));
    // Two writers of one file at once (two processes sharing a folder): each has its own temporary, so
    // both commits succeed and the file is one of the two versions, whole.
    {
        AtomicWriter first(path), second(path);
        CHECK(first.temp_path != second.temp_path);
        first.write("from the first writer", 21);
        second.write("from the second", 15);
        first.commit();
        CHECK(read_file(path) == "from the first writer");
        second.commit();
    }
    CHECK(read_file(path) == "from the second");
    CHECK(dir.temporaries() == 0);
    // A temporary of a writer killed mid-write (no such process) goes with the next write of that file; a
    // live process's (this one's) stays.
    const std::string dead = path + ".999999999.0.tmp", live = path + "." + std::to_string((long)getpid()) + ".77.tmp";
    atomic_write_file(dead, "killed half-way");
    atomic_write_file(live, "still being written");
    CHECK(dir.temporaries() == 2);
    atomic_write_file(path, "third");
    CHECK_FALSE(path_exists(dead));
    CHECK(path_exists(live));
    CHECK(read_file(path) == "third");
    CHECK_THROWS_WITH(read_file(dir.file("absent")), Catch::Contains("absent: cannot open"));
}
