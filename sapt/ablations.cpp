// ablations.cpp — SAPT without shared attentive learning as loop hooks. See ablations.h. SAPT without
// attentive reflection needs no code here: it is a row of the method table with reflection off.
#include "sapt/ablations.h"

#include "sapt/reflection.h"
#include "sapt/trainer.h"

Tensor current_block_weights(int64_t batch, int num_tasks) {
    std::vector<float> values((size_t)(batch * num_tasks), 0.0f);
    for (int64_t b = 0; b < batch; b++) values[(size_t)(b * num_tasks)] = 1.0f;  // slot 0 = the current block
    return tensor_from({batch, (int64_t)num_tasks}, values);
}

MethodHooks no_sals_hooks(const Model& model, SaptState& state) {
    MethodHooks hooks;
    const Model* m = &model;
    SaptState* s = &state;
    // Only the training loss changes: evaluation and generation arm their batches by SALS, as SAPT does.
    hooks.batch_loss = [m, s](const Batch& batch) {
        // The loop armed this batch with SALS weights; the task loss runs with a constant one-hot instead, so
        // it sends no gradient into the keys or the projector through the mixture.
        s->batch_weights = tensor_to_device(current_block_weights(batch.selection_ids.dim(0), s->num_tasks),
                                            s->sals.key.device());
        const PetHook hook = sapt_hook(*s);
        BatchLoss loss;
        loss.ce = model_loss(*m, &hook, batch, true);
        // The selection learned apart: this batch's inputs belong to the current task (slot 0).
        std::vector<float> current((size_t)s->num_tasks, 0.0f);
        current[0] = 1.0f;
        loss.extra = reflection_kl(sapt_selection(*s, *m, batch.selection_ids, batch.selection_mask).logits, current);
        return loss;
    };
    return hooks;
}
