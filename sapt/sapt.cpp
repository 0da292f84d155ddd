// sapt.cpp — the SAPT state: adding tasks, arming the PET hook with a batch's selection weights, the
// reflection KL, and saving / loading (ours and the official code's tensor names).
#include "sapt/sapt.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/reflection.h"

static const Tensor& embedding_table_of(const Model& model) {
    return model.kind == ModelKind::T5 ? model.t5.shared : model.llama.embed;
}

SaptState sapt_create(const Model& model, const SaptOptions& options) {
    if (options.lora_rank <= 0 || options.prompt_length <= 0 || options.trans_hidden <= 0) {
        fail("sapt_create", "LoRA rank, prompt length and SALS width must be positive (got " +
                                std::to_string(options.lora_rank) + ", " + std::to_string(options.prompt_length) +
                                ", " + std::to_string(options.trans_hidden) + ")");
    }
    SaptState state;
    state.options = options;
    state.model_kind = model.kind;
    state.embedding_table = embedding_table_of(model);
    state.sites = model_adapted_sites(model);
    return state;
}

void sapt_add_task(SaptState& state, Rng& rng) {
    const SaptOptions& o = state.options;
    const bool first = state.num_tasks == 0;
    if (o.pet == PetKind::Lora) {
        if (first) {
            for (const AdaptedSite& site : state.sites) state.lora.push_back(lora_bank_create(site, o.lora_rank, rng));
        } else {
            for (LoraBank& bank : state.lora) lora_bank_push_task(bank, rng);
        }
    } else if (first) {
        state.prompt = prompt_bank_create(state.embedding_table, o.prompt_length, rng);
    } else {
        prompt_bank_push_task(state.prompt, state.embedding_table, rng);
    }
    if (o.selection) {
        if (first) state.sals = sals_create((int)state.embedding_table.dim(1), o.trans_hidden, rng);
        else sals_push_task(state.sals, rng);
    }
    state.num_tasks++;
    state.batch_weights = Tensor{};  // weights of the old task count no longer fit
}

std::vector<Tensor> sapt_trainable_parameters(const SaptState& state) {
    std::vector<Tensor> params;
    if (state.num_tasks == 0) return params;
    if (state.options.pet == PetKind::Lora) {
        for (const LoraBank& bank : state.lora) {
            for (const Tensor& t : lora_bank_trainable(bank)) params.push_back(t);
        }
    } else {
        params.push_back(state.prompt.current);
    }
    if (state.options.selection) {
        for (const Tensor& t : sals_trainable(state.sals)) params.push_back(t);
    }
    return params;
}

SalsOutput sapt_selection(const SaptState& state, const Model& model, const Tensor& ids, const Tensor& mask) {
    if (!state.options.selection) fail("sapt_selection", "selection is off for this method (expected SAPT)");
    if (state.num_tasks == 0) fail("sapt_selection", "no task yet (call sapt_add_task first)");
    if (ids.ndim() != 2 || (mask.defined() && mask.shape() != ids.shape())) {
        fail("sapt_selection", "ids must be (B, T) and mask the same shape (got ids " + shape_str(ids.shape()) +
                                   (mask.defined() ? ", mask " + shape_str(mask.shape()) : std::string()) + ")");
    }
    const Tensor embeddings = embedding(ids, embedding_table_of(model));  // frozen table: no gradient
    return sals_forward(state.sals, embeddings, state.options.compat_official ? Tensor{} : mask);
}

SalsOutput sapt_begin_batch(SaptState& state, const Model& model, const Tensor& ids, const Tensor& mask,
                            bool training) {
    SalsOutput out;
    if (state.options.selection) out = sapt_selection(state, model, ids, mask);
    state.batch_weights = out.weights;
    state.training = training;
    return out;
}

PetHook sapt_hook(SaptState& state) {
    PetHook hook;
    SaptState* s = &state;
    if (state.options.pet == PetKind::Lora) {
        hook.projection_delta = [s](int site, const Tensor& x) -> Tensor {
            if (s->num_tasks == 0) return Tensor{};
            if (site < 0 || site >= (int)s->lora.size()) {
                fail("sapt_hook", "site out of range (expected < " + std::to_string(s->lora.size()) + ", got " +
                                      std::to_string(site) + ")");
            }
            if (s->options.selection && !s->batch_weights.defined()) {
                fail("sapt_hook", "no selection weights for this batch (call sapt_begin_batch before the forward)");
            }
            LoraMixOptions mix;
            mix.scaling = s->options.lora_alpha / (float)s->options.lora_rank;
            mix.dropout = s->options.lora_dropout;
            mix.training = s->training;
            mix.detach_previous = s->options.compat_official;
            return lora_bank_delta(s->lora[site], x, s->batch_weights, mix);
        };
    } else {
        hook.prompt_prefix = [s](const Tensor& input_embeddings) -> Tensor {
            if (s->num_tasks == 0) return Tensor{};
            if (s->options.selection && !s->batch_weights.defined()) {
                fail("sapt_hook", "no selection weights for this batch (call sapt_begin_batch before the forward)");
            }
            return prompt_bank_prefix(s->prompt, s->batch_weights, input_embeddings.dim(0));
        };
    }
    return hook;
}

std::vector<float> sapt_replay_target(const SaptState& state, int task) {
    if (task < 0 || task >= (int)state.targets.size()) {
        fail("sapt_replay_target", "no recorded weights for task " + std::to_string(task) + " (recorded: " +
                                       std::to_string(state.targets.size()) + " tasks)");
    }
    return reflection_target(state.targets[task], state.num_tasks);
}

Tensor sapt_kl_loss(const SaptState& state, const Model& model, const Tensor& pseudo_ids, const Tensor& mask,
                    const std::vector<float>& target) {
    return reflection_kl(sapt_selection(state, model, pseudo_ids, mask).logits, target);
}
