// test_ops_torch.cpp — every op against PyTorch: tests/fixtures/ops/ops.json (written by
// tests/reference/gen_ops_fixtures.py, float64 torch math on float32 inputs) holds inputs, a probe, the
// output and every input gradient of loss = sum(output * probe). We run the same op, backpropagate the
// same loss, and require |ours - torch| <= 1e-6 + 1e-5 |torch| for outputs and gradients alike.
// In a CUDA build the same cases run once more with every tensor on the GPU.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/device.h"
#include "test_ops_util.h"
#ifdef SAPT_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

using nlohmann::json;

static const double kAbsTolerance = 1e-6, kRelTolerance = 1e-5;

static Tensor tensor_from_json(const json& spec, Device device) {
    const std::vector<int64_t> shape = spec.at("shape").get<std::vector<int64_t>>();
    const std::string dtype = spec.at("dtype").get<std::string>();
    if (dtype == "f32") return tensor_to_device(tensor_from(shape, spec.at("values").get<std::vector<float>>()), device);
    if (dtype == "i32") return tensor_to_device(tensor_from_i32(shape, spec.at("values").get<std::vector<int32_t>>()), device);
    const std::vector<int> bytes = spec.at("values").get<std::vector<int>>();
    Tensor t = tensor_empty(shape, DType::U8);
    for (size_t i = 0; i < bytes.size(); i++) t.u8()[i] = (uint8_t)bytes[i];
    return tensor_to_device(t, device);
}

// The gradient of `t`, copied to the host wherever it lives.
static std::vector<float> host_grad(const Tensor& t) {
    std::vector<float> values((size_t)t.numel());
    copy_bytes(values.data(), Device::CPU, t.grad(), t.device(), values.size() * sizeof(float));
    return values;
}

// Runs the fixture's op on our engine. `in` holds the trainable inputs, `constant` the others.
static Tensor run_op(const std::string& op, std::map<std::string, Tensor>& in, std::map<std::string, Tensor>& constant,
                     const json& attrs) {
    if (op == "matmul") return matmul(in["a"], in["b"], attrs.at("trans_a"), attrs.at("trans_b"));
    if (op == "linear") return linear(in["x"], in["w"]);
    if (op == "add") return add(in["a"], in["b"]);
    if (op == "sub") return sub(in["a"], in["b"]);
    if (op == "mul") return mul(in["a"], in["b"]);
    if (op == "scale") return scale(in["a"], attrs.at("s"));
    if (op == "mul_per_batch") return mul_per_batch(in["a"], in["w"]);
    if (op == "sum") return sum(in["a"]);
    if (op == "mean") return mean(in["a"]);
    if (op == "sum_axis") return sum_axis(in["a"], attrs.at("axis"));
    if (op == "reshape") return reshape(in["a"], attrs.at("shape").get<std::vector<int64_t>>());
    if (op == "transpose") return transpose(in["a"], attrs.at("axis0"), attrs.at("axis1"));
    if (op == "permute") return permute(in["a"], attrs.at("axes").get<std::vector<int>>());
    if (op == "slice") return slice(in["a"], attrs.at("axis"), attrs.at("start"), attrs.at("end"));
    if (op == "concat") return concat({in["a"], in["b"]}, attrs.at("axis"));
    if (op == "embedding") return embedding(constant["ids"], in["table"]);
    if (op == "softmax") return softmax(in["a"]);
    if (op == "log_softmax") return log_softmax(in["a"]);
    if (op == "rms_norm") return rms_norm(in["x"], in["w"], attrs.at("eps"));
    if (op == "layer_norm") return layer_norm(in["x"], in["w"], in["b"], attrs.at("eps"));
    if (op == "relu") return relu(in["x"]);
    if (op == "gelu_tanh") return gelu_tanh(in["x"]);
    if (op == "silu") return silu(in["x"]);
    if (op == "max_pool_seq") return max_pool_seq(in["x"], constant.count("mask") ? constant["mask"] : Tensor{});
    if (op == "attention") {
        return attention(in["q"], in["k"], in["v"], in.count("pos_bias") ? in["pos_bias"] : Tensor{},
                         constant.count("key_mask") ? constant["key_mask"] : Tensor{}, attrs.at("scale"),
                         attrs.at("causal"));
    }
    if (op == "rope") return rope(in["x"], constant["positions"], attrs.at("theta"));
    if (op == "cross_entropy") return cross_entropy(in["logits"], constant["targets"]);
    if (op == "kl_div_batchmean") return kl_div_batchmean(in["logp"], constant["target"]);
    FAIL("fixture names an op this test does not know: " << op);
    return Tensor{};
}

struct WorstError {
    double abs = 0.0, rel = 0.0;  // rel: |ours - torch| / |torch| over elements with |torch| > 1e-3
    std::string where;
};

// Checks ours against the reference element-wise and folds the errors into `worst`.
static void compare(const std::string& what, const std::vector<float>& ours, const std::vector<double>& torch_values,
                    WorstError& worst) {
    INFO(what);
    REQUIRE(ours.size() == torch_values.size());
    int failures = 0;
    for (size_t i = 0; i < ours.size(); i++) {
        const double error = std::fabs((double)ours[i] - torch_values[i]);
        if (error > worst.abs) {
            worst.abs = error;
            worst.where = what;
        }
        if (std::fabs(torch_values[i]) > 1e-3) worst.rel = std::max(worst.rel, error / std::fabs(torch_values[i]));
        if (error > kAbsTolerance + kRelTolerance * std::fabs(torch_values[i]) && failures++ < 5) {
            FAIL_CHECK("element " << i << ": ours " << ours[i] << " vs torch " << torch_values[i]);
        }
    }
    CHECK(failures == 0);
}

static void check_fixture_on(Device device) {
    std::ifstream file("tests/fixtures/ops/ops.json");
    REQUIRE(file.good());  // committed with the repo; regenerate with tests/reference/gen_ops_fixtures.py
    const json fixture = json::parse(file);
    std::map<std::string, bool> ops_seen;
    WorstError worst;
    int cases_run = 0;
    for (const json& c : fixture.at("cases")) {
        const std::string name = c.at("name");
        INFO("case " << name);
        std::map<std::string, Tensor> in, constant;
        for (const json& spec : c.at("inputs")) {
            Tensor t = tensor_from_json(spec, device);
            t.data->requires_grad = true;
            in[spec.at("name")] = t;
        }
        for (const json& spec : c.at("constants")) constant[spec.at("name")] = tensor_from_json(spec, device);

        Tensor out = run_op(c.at("op"), in, constant, c.at("attrs"));
        CHECK(out.shape() == c.at("output").at("shape").get<std::vector<int64_t>>());
        compare(name + " output", tensor_values(out), c.at("output").at("values").get<std::vector<double>>(), worst);
        Tensor probe = tensor_to_device(tensor_from(out.shape(), c.at("probe").get<std::vector<float>>()), device);
        backward(sum(mul(out, probe)));
        for (auto& [input_name, t] : in) {
            compare(name + " d" + input_name, host_grad(t), c.at("grads").at(input_name).get<std::vector<double>>(), worst);
        }
        ops_seen[c.at("op")] = true;
        cases_run++;
    }
    // Every op of ops.h except dropout (random; tested for its statistics in test_ops.cpp) is covered.
    CHECK(ops_seen.size() == 28);
    CHECK(cases_run == (int)fixture.at("cases").size());
    std::printf("ops vs torch on %s: %d cases, max abs error %.3g (%s), max rel error %.3g (|torch| > 1e-3)\n",
                device == Device::CPU ? "the CPU" : "the GPU", cases_run,
                worst.abs, worst.where.c_str(), worst.rel);
}

TEST_CASE("every op's output and input gradients match PyTorch", "[ops]") { check_fixture_on(Device::CPU); }

#ifdef SAPT_CUDA
TEST_CASE("on the GPU, every op's output and input gradients match PyTorch", "[ops][cuda]") {
    std::string why;
    if (!cuda_device_available(&why)) {
        WARN("SKIPPED: no usable GPU (" << why << ")");
        return;
    }
    check_fixture_on(Device::CUDA);
}
#endif
