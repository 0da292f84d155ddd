// seqft.cpp — full fine-tuning hooks. See seqft.h.
#include "sapt/baselines/seqft.h"

MethodHooks seqft_hooks(Model& model) {
    set_backbone_trainable(model, true);
    std::vector<Tensor> weights;
    std::vector<std::string> names;
    for (const NamedWeight& w : model_weights(model)) {
        weights.push_back(*w.tensor);
        names.push_back(w.name);
    }
    MethodHooks hooks;
    hooks.trainable = [weights]() { return weights; };
    // The fine-tuned backbone is SeqFT's state: every weight into the checkpoint, back in place on resume.
    hooks.save = [weights, names](MethodCheckpoint& out) {
        for (size_t i = 0; i < weights.size(); i++) out.tensors.emplace_back("method.seqft." + names[i], weights[i]);
        out.metadata = "backbone";
    };
    hooks.restore = [weights, names](const SafeTensorsFile& file) {
        for (size_t i = 0; i < weights.size(); i++) method_tensor_into(file, "method.seqft." + names[i], weights[i]);
    };
    hooks.hook = PetHook{};  // no PET block: the plain backbone
    hooks.begin_batch = [](const Tensor&, const Tensor&, bool) {};
    return hooks;
}
