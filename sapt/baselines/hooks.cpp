// hooks.cpp — which method has which hooks, and the loop's fallbacks to the SAPT state. See hooks.h.
#include "sapt/baselines/hooks.h"

#include "sapt/baselines/ewc.h"
#include "sapt/baselines/l2p.h"
#include "sapt/baselines/lwf.h"
#include "sapt/baselines/olora.h"
#include "sapt/baselines/replay.h"
#include "sapt/baselines/seqft.h"
#include "sapt/ablations.h"
#include "engine/device.h"
#include "engine/error.h"
#include "sapt/trainer.h"

MethodHooks make_method_hooks(const std::string& method, Model& model, SaptState& state,
                              const BatchingOptions& batching, const BaselineOptions& options) {
    if (method == "seqft") return seqft_hooks(model);
    if (method == "replay") return replay_hooks(options);
    if (method == "ewc") return ewc_hooks(model, state, batching, options);
    if (method == "lwf") return lwf_hooks(model, state, options);
    if (method == "l2p") return l2p_hooks(model, state, options);
    if (method == "olora") return olora_hooks(model, state, options);
    if (method == "sapt-no-sals") return no_sals_hooks(model, state);
    return MethodHooks{};  // sapt, sapt-no-arm, seqlora, inclora: the SAPT state alone
}

Tensor method_tensor_from(const SafeTensorsFile& file, const std::string& name, Device device) {
    if (!file.has(name)) fail(file.path, "no tensor '" + name + "' (expected the method's state in the checkpoint)");
    Tensor t = tensor_to_device(tensor_clone(file.get(name)), device);
    t.data->name = name;
    return t;
}

void method_tensor_into(const SafeTensorsFile& file, const std::string& name, const Tensor& into) {
    const Tensor loaded = method_tensor_from(file, name, Device::CPU);
    if (loaded.shape() != into.shape() || loaded.dtype() != into.dtype()) {
        fail(file.path, "tensor '" + name + "' is " + shape_str(loaded.shape()) + " " + dtype_name(loaded.dtype()) +
                            " (expected " + shape_str(into.shape()) + " " + dtype_name(into.dtype()) + ")");
    }
    copy_bytes(into.raw(), into.device(), loaded.raw(), Device::CPU, (size_t)into.numel() * dtype_size(into.dtype()));
}

std::string method_metadata(const SafeTensorsFile& file) {
    auto it = file.metadata.find("method.state");
    if (it == file.metadata.end()) fail(file.path, "no method.state metadata (expected the method's state)");
    return it->second;
}

std::vector<Tensor> method_trainable(const MethodHooks* hooks, const SaptState& state) {
    return hooks && hooks->trainable ? hooks->trainable() : sapt_trainable_parameters(state);
}

PetHook method_hook(const MethodHooks* hooks, SaptState& state) {
    return hooks && hooks->hook ? *hooks->hook : sapt_hook(state);
}

SalsOutput method_begin_batch(const MethodHooks* hooks, SaptState& state, const Model& model, const Tensor& ids,
                              const Tensor& mask, bool training) {
    if (!hooks || !hooks->begin_batch) return sapt_begin_batch(state, model, ids, mask, training);
    hooks->begin_batch(ids, mask, training);
    return SalsOutput{};
}

BatchLoss method_batch_loss(const MethodHooks* hooks, const Model& model, const PetHook& hook, const Batch& batch) {
    if (hooks && hooks->batch_loss) return hooks->batch_loss(batch);
    return BatchLoss{model_loss(model, &hook, batch, true), Tensor{}};
}
