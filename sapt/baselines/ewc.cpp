// ewc.cpp — the Fisher estimate, the quadratic penalty and EWC's hooks. See ewc.h.
#include "sapt/baselines/ewc.h"

#include <cstdlib>
#include <memory>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/trainer.h"

std::vector<Tensor> ewc_diagonal_fisher(const std::vector<Tensor>& params, int num_examples,
                                        const std::function<Tensor(int)>& example_loss) {
    if (num_examples <= 0) fail("ewc_diagonal_fisher", "no examples to estimate the Fisher on");
    std::vector<Tensor> fisher;
    // The estimate lives where the parameters do and is summed there by the backend's kernels.
    for (const Tensor& p : params) fisher.push_back(tensor_zeros(p.shape(), DType::F32, p.device()));
    zero_grad(params);
    for (int k = 0; k < num_examples; k++) {
        backward(example_loss(k));
        for (size_t i = 0; i < params.size(); i++) {
            if (!params[i].has_grad()) continue;  // a parameter this loss does not reach
            const Kernels& kernels = kernels_for(params[i].device());
            const size_t n = (size_t)params[i].numel();
            const Tensor squared = tensor_empty(params[i].shape(), DType::F32, params[i].device());
            kernels.mul(squared.f32(), params[i].grad(), params[i].grad(), n);
            kernels.axpy(fisher[i].f32(), 1.0f / (float)num_examples, squared.f32(), n);
        }
        zero_grad(params);
    }
    return fisher;
}

Tensor ewc_penalty(const std::vector<Tensor>& params, const std::vector<EwcAnchor>& anchors, float lambda) {
    // Every term F (theta - theta*)^2 flattened into one vector and summed once: one reduction (and, on a
    // GPU, one scalar to the host) per step rather than one per tensor and anchor.
    std::vector<Tensor> terms;
    for (const EwcAnchor& anchor : anchors) {
        if (anchor.params.size() != params.size()) {
            fail("ewc_penalty", "an anchor of another parameter list (expected " + std::to_string(params.size()) +
                                    " tensors, got " + std::to_string(anchor.params.size()) + ")");
        }
        for (size_t i = 0; i < params.size(); i++) {
            const Tensor drift = sub(params[i], anchor.params[i]);
            terms.push_back(reshape(mul(mul(drift, drift), anchor.fisher[i]), {-1}));
        }
    }
    if (terms.empty()) return tensor_zeros({1}, DType::F32, params.empty() ? Device::CPU : params[0].device());
    return scale(sum(concat(terms, 0)), 0.5f * lambda);
}

MethodHooks ewc_hooks(const Model& model, SaptState& state, const BatchingOptions& batching,
                      const BaselineOptions& options) {
    MethodHooks hooks;
    auto anchors = std::make_shared<std::vector<EwcAnchor>>();
    const Model* m = &model;
    SaptState* s = &state;
    const float lambda = options.ewc_lambda;
    const int samples = options.ewc_fisher_samples;
    hooks.batch_loss = [m, s, anchors, lambda](const Batch& batch) {
        const PetHook hook = sapt_hook(*s);
        BatchLoss loss;
        loss.ce = model_loss(*m, &hook, batch, true);
        if (!anchors->empty()) loss.extra = ewc_penalty(sapt_trainable_parameters(*s), *anchors, lambda);
        return loss;
    };
    hooks.after_task = [m, s, anchors, batching, samples](int, const std::vector<Instance>&,
                                                           const std::vector<EncodedExample>& examples) {
        const std::vector<Tensor> params = sapt_trainable_parameters(*s);
        const PetHook hook = sapt_hook(*s);
        const int n = std::min<int>(samples, (int)examples.size());
        // Evenly spread examples of the task, each on its own: squared per-example gradients.
        auto example_loss = [&](int k) {
            const int row = (int)((int64_t)k * (int64_t)examples.size() / n);
            const Batch batch = make_batch(examples, {row}, batching, true);
            sapt_begin_batch(*s, *m, batch.selection_ids, batch.selection_mask, false);
            return model_loss(*m, &hook, batch, false);
        };
        EwcAnchor anchor;
        anchor.fisher = ewc_diagonal_fisher(params, n, example_loss);
        for (const Tensor& p : params) anchor.params.push_back(tensor_clone(p));
        anchors->push_back(anchor);
    };
    // Every anchor (theta*_j and F_j of each finished task) goes into the checkpoint.
    hooks.save = [anchors](MethodCheckpoint& out) {
        for (size_t a = 0; a < anchors->size(); a++) {
            const EwcAnchor& anchor = (*anchors)[a];
            for (size_t i = 0; i < anchor.params.size(); i++) {
                const std::string base = "method.ewc." + std::to_string(a) + ".";
                out.tensors.emplace_back(base + "param." + std::to_string(i), anchor.params[i]);
                out.tensors.emplace_back(base + "fisher." + std::to_string(i), anchor.fisher[i]);
            }
        }
        out.metadata = std::to_string(anchors->size());
    };
    hooks.restore = [s, anchors](const SafeTensorsFile& file) {
        const std::vector<Tensor> params = sapt_trainable_parameters(*s);
        const std::string count = method_metadata(file);
        anchors->clear();
        for (int a = 0; a < std::atoi(count.c_str()); a++) {
            EwcAnchor anchor;
            for (size_t i = 0; i < params.size(); i++) {
                const std::string base = "method.ewc." + std::to_string(a) + ".";
                anchor.params.push_back(method_tensor_from(file, base + "param." + std::to_string(i), params[i].device()));
                anchor.fisher.push_back(method_tensor_from(file, base + "fisher." + std::to_string(i), params[i].device()));
            }
            anchors->push_back(anchor);
        }
    };
    return hooks;
}
