// test_models_grads.cpp — the backward pass of T5 and LLaMA against PyTorch (fixtures written by
// tests/reference/gen_model_grads.py: plain-torch transformers-4.30 math on tiny configs). LoRA-style
// trainable A/B on q and v over a frozen base, and the whole backbone trainable (seqft). Also T5's
// relative position buckets against torch's table.
#include <catch2/catch.hpp>

#include "test_models_util.h"

namespace {

const char* kFixtures = "tests/fixtures/models/";

// delta = 2 (x A^T) B^T with A, B = <module>.lora_{q,v}.lora_{A,B} from the extra tensors, trainable.
struct PlainLora {
    std::vector<AdaptedSite> sites;
    std::vector<Tensor> a, b;
    PetHook hook;
};

std::unique_ptr<PlainLora> plain_lora(const Model& model, WeightMap& extras) {
    auto lora = std::make_unique<PlainLora>();
    lora->sites = model_adapted_sites(model);
    for (const AdaptedSite& site : lora->sites) {
        std::string base = site.module + ".lora_" + site.projection;
        REQUIRE(extras.count(base + ".lora_A"));
        Tensor a = extras.at(base + ".lora_A"), b = extras.at(base + ".lora_B");
        a.data->requires_grad = true;
        b.data->requires_grad = true;
        a.data->name = base + ".lora_A";
        b.data->name = base + ".lora_B";
        lora->a.push_back(a);
        lora->b.push_back(b);
    }
    PlainLora* self = lora.get();
    lora->hook.projection_delta = [self](int site, const Tensor& x) {
        return scale(linear(linear(x, self->a[site]), self->b[site]), 2.0f);
    };
    return lora;
}

Tensor gradient_of(const Tensor& t) {
    REQUIRE(t.has_grad());
    return tensor_from(t.shape(), std::vector<float>(t.grad(), t.grad() + t.numel()));
}

// Runs the case's forward and backward; returns the loss.
Tensor forward_backward(Model& model, const SafeTensorsFile& io, const PetHook* hook, double* logits_err) {
    Tensor ids = io.get("input_ids"), mask = to_u8_mask(io.get("attention_mask")), labels = io.get("labels");
    Tensor logits, loss;
    if (model.kind == ModelKind::T5) {
        T5EncoderOutput encoded = t5_encode(model.t5, ids, mask, hook, T5RunOptions{});
        logits = t5_decode(model.t5, t5_shift_right(labels, model.t5.config), encoded, hook, T5RunOptions{});
        loss = t5_loss(logits, labels);
    } else {
        logits = llama_forward(model.llama, ids, mask, Tensor{}, hook, nullptr, false);
        loss = llama_loss(logits, labels);
    }
    *logits_err = max_rel_err(logits, io.get("logits"));
    CHECK(max_rel_err(loss, io.get("loss")) <= 1e-5);
    backward(loss);
    return loss;
}

void run_lora_case(const std::string& name) {
    WeightMap extras;
    Model model = load_pretrained_model(kFixtures + name, &extras);
    SafeTensorsFile io = safetensors_open(kFixtures + name + "/io.safetensors");
    auto lora = plain_lora(model, extras);
    double logits_err = 0.0;
    forward_backward(model, io, &lora->hook, &logits_err);
    CHECK(logits_err <= 1e-5);
    double worst = 0.0;
    for (size_t s = 0; s < lora->sites.size(); s++) {
        for (const Tensor* p : {&lora->a[s], &lora->b[s]}) {
            double err = max_rel_err(gradient_of(*p), io.get("grad." + p->name()));
            INFO(p->name() << ": max rel err " << err);
            CHECK(err <= 1e-4);
            worst = std::max(worst, err);
        }
    }
    for (NamedWeight& w : model_weights(model)) {
        INFO(w.name);
        CHECK_FALSE(w.tensor->has_grad());  // the frozen base gets no gradient buffer
    }
    WARN(name << ": logits max rel err " << logits_err << ", LoRA gradients max rel err " << worst);
}

void run_full_case(const std::string& name) {
    Model model = load_pretrained_model(kFixtures + name);
    set_backbone_trainable(model, true);
    SafeTensorsFile io = safetensors_open(kFixtures + name + "/io.safetensors");
    double logits_err = 0.0;
    forward_backward(model, io, nullptr, &logits_err);
    CHECK(logits_err <= 1e-5);
    double worst = 0.0;
    int checked = 0;
    for (NamedWeight& w : model_weights(model)) {
        REQUIRE(io.has("grad." + w.name));
        double err = max_rel_err(gradient_of(*w.tensor), io.get("grad." + w.name));
        INFO(w.name << ": max rel err " << err);
        CHECK(err <= 1e-4);
        worst = std::max(worst, err);
        checked++;
    }
    CHECK(checked == (int)(io.names().size() - 5));  // every grad.* of the fixture was compared
    WARN(name << " (whole backbone trainable): logits max rel err " << logits_err << ", gradients max rel err "
              << worst);
}

}  // namespace

TEST_CASE("T5 gated-gelu LoRA gradients on q and v equal PyTorch's, the frozen base gets none", "[models]") {
    run_lora_case("t5_gated_untied_lora");
}

TEST_CASE("T5 relu tied with the whole backbone trainable: every gradient equals PyTorch's", "[models]") {
    run_full_case("t5_relu_tied_full");
}

TEST_CASE("LLaMA GQA left-padded LoRA gradients equal PyTorch's", "[models]") {
    run_lora_case("llama_gqa_lora");
}

TEST_CASE("LLaMA GQA with the whole backbone trainable: every gradient equals PyTorch's", "[models]") {
    run_full_case("llama_gqa_full");
}

TEST_CASE("Freezing the backbone again drops its gradients", "[models]") {
    Model model = load_pretrained_model(std::string(kFixtures) + "llama_gqa_full");
    set_backbone_trainable(model, true);
    SafeTensorsFile io = safetensors_open(std::string(kFixtures) + "llama_gqa_full/io.safetensors");
    double logits_err = 0.0;
    forward_backward(model, io, nullptr, &logits_err);
    set_backbone_trainable(model, false);
    for (NamedWeight& w : model_weights(model)) {
        INFO(w.name);
        CHECK_FALSE(w.tensor->requires_grad());
        CHECK_FALSE(w.tensor->has_grad());
    }
}

TEST_CASE("T5 relative position buckets equal transformers' for both directions", "[models]") {
    SafeTensorsFile table = safetensors_open(std::string(kFixtures) + "t5_buckets.safetensors");
    std::vector<int32_t> rel = int_values(table.get("relative_position"));
    for (int nb_md : {0, 1}) {
        int nb = nb_md == 0 ? 32 : 8, md = nb_md == 0 ? 128 : 16;
        for (bool bidirectional : {true, false}) {
            std::string key = "buckets_" + std::to_string(nb) + "_" + std::to_string(md) + "_" +
                              (bidirectional ? "bidirectional" : "causal");
            std::vector<int32_t> want = int_values(table.get(key));
            std::vector<int32_t> got;
            for (int32_t r : rel) got.push_back(t5_relative_position_bucket(r, bidirectional, nb, md));
            INFO(key);
            CHECK(got == want);
        }
    }
}
