// seqft.cpp — full fine-tuning hooks. See seqft.h.
#include "sapt/baselines/seqft.h"

MethodHooks seqft_hooks(Model& model) {
    set_backbone_trainable(model, true);
    std::vector<Tensor> weights;
    for (const NamedWeight& w : model_weights(model)) weights.push_back(*w.tensor);
    MethodHooks hooks;
    hooks.trainable = [weights]() { return weights; };
    hooks.hook = PetHook{};  // no PET block: the plain backbone
    hooks.begin_batch = [](const Tensor&, const Tensor&, bool) {};
    return hooks;
}
