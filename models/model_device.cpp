// model_device.cpp — see model_device.h. Both functions walk model_weights(), which lists every backbone
// tensor once (a tied head is the embedding, listed once), so no weight is copied or converted twice.
#include "models/model_device.h"

#include "engine/backend.h"
#include "engine/error.h"
#include "kernels/cpu/gemm.h"

Device model_device(const Model& model) {
    return (model.kind == ModelKind::T5 ? model.t5.shared : model.llama.embed).device();
}

void model_to_device(Model& model, Device device) {
    for (NamedWeight& weight : model_weights(model)) {
        // tensor_to_device keeps name and requires_grad, and returns the tensor itself when already there.
        *weight.tensor = tensor_to_device(*weight.tensor, device);
    }
}

int model_frozen_weights_to_bf16(Model& model) {
    int converted = 0;
    for (NamedWeight& weight : model_weights(model)) {
        Tensor& t = *weight.tensor;
        if (t.dtype() != DType::F32 || t.ndim() != 2 || t.requires_grad()) continue;
        t = tensor_to_bf16(t);  // a new tensor (same name): a view into a mapped checkpoint is left untouched
        converted++;
    }
    return converted;
}

void check_precision_name(const std::string& precision, const std::string& option) {
    if (precision != "f32" && precision != "bf16") fail(option, "expected f32 or bf16, got '" + precision + "'");
}

int model_apply_precision(Model& model, const std::string& precision, const std::string& option) {
    check_precision_name(precision, option);
    if (precision == "f32") {
        cpu_set_gemm_precision(GemmPrecision::F32);
        return 0;
    }
    int converted = model_frozen_weights_to_bf16(model);
    cpu_set_gemm_precision(GemmPrecision::BF16);
    return converted;
}

void model_place(Model& model, Device device, const std::string& precision) {
    check_precision_name(precision, "--precision");
    if (device == Device::CPU) return;
    backend_for(device).set_gemm_precision(precision == "bf16" ? GemmPrecision::BF16 : GemmPrecision::F32);
    model_to_device(model, device);
}

// The names come from the backend registry, so a backend registered in engine/backend.cpp is a --device value.
Device parse_device_option(const std::string& value, const std::string& option) {
    const Backend* backend = find_backend(value);
    if (backend == nullptr && value == "cuda") {
        fail(option, "cuda: this build has no CUDA backend\nHINT: rebuild with `make CUDA=1` (needs nvcc), or build "
                     "`make train-emu` for build-emu/train, whose device is the CPU emulation of the CUDA backend");
    }
    if (backend == nullptr) {
        // cuda is named even where it is not built: asking for it gets the rebuild hint above.
        std::string names;
        for (const Backend* registered : registered_backends()) {
            names += (names.empty() ? "" : " or ") + std::string(registered->name);
        }
        if (find_backend("cuda") == nullptr) names += " or cuda";
        fail(option, "expected " + names + ", got '" + value + "'");
    }
    std::string why;
    if (!backend->available(&why)) {
        fail(option, value + ": this machine has no usable GPU (" + why + ")\nHINT: run with --device cpu, or on a "
                     "machine with an NVIDIA GPU and its driver (`nvidia-smi` should list it)");
    }
    return backend->device;
}
