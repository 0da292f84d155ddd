// model.h — one handle for either model family, what the rest of sapt.cpp (training, generation, the
// CLI) works with: load from a path, list the adapted projections, list and unfreeze the backbone
// weights. Not here: the forward passes (t5.h, llama.h) or decoding (generate.h).
#pragma once
#include <string>
#include <vector>

#include "models/config.h"
#include "models/llama.h"
#include "models/t5.h"
#include "models/weights.h"

struct Model {
    ModelKind kind = ModelKind::T5;
    T5Model t5;        // when kind == T5
    LlamaModel llama;  // when kind == Llama
    // Training forwards recompute each block during backward instead of keeping its activations
    // (./train --recompute layer); model_loss passes it on as the T5 / LLaMA run option.
    bool recompute_layers = false;
};

// Loads a Hugging Face directory (config.json + model.safetensors or a sharded
// model.safetensors.index.json; F32 / BF16 / F16) or a llama2.c .bin file (v0 or v1 header).
// Weights that need no conversion are views into the memory-mapped files. Every backbone weight is
// frozen. Tensors owned by a PET method (see is_pet_tensor_name) go to *extra_tensors (ignored when
// null); missing, misshaped or unknown tensors throw a sapt_error naming them.
Model load_pretrained_model(const std::string& path, WeightMap* extra_tensors = nullptr);

// Builders from name -> tensor maps (the loaders above use them; tests build models from maps too).
T5Model t5_from_weights(const T5Config& config, WeightLoad& load, WeightMap* extra_tensors);
LlamaModel llama_from_weights(const LlamaConfig& config, WeightLoad& load, WeightMap* extra_tensors);

std::vector<AdaptedSite> model_adapted_sites(const Model& model);

// Every backbone weight with its HF name, in a fixed order (each tensor once: tied heads are not
// listed twice). The pointers point into `model`.
struct NamedWeight {
    std::string name;
    Tensor* tensor;
};
std::vector<NamedWeight> model_weights(Model& model);

// trainable: every backbone weight is replaced by an F32 copy with requires_grad (full fine-tuning,
// the seqft baseline), so nothing writes into the mapped checkpoint. Not trainable: requires_grad off
// and gradients dropped (the copies stay F32).
void set_backbone_trainable(Model& model, bool trainable);
