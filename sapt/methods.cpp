// methods.cpp — the method table. See methods.h.
#include "sapt/methods.h"

#include "engine/error.h"
#include "sapt/sapt_device.h"

const std::vector<MethodSpec>& method_table() {
    static const std::vector<MethodSpec> table = {
        {"sapt", "SAPT: one PET block per task, mixed by shared attentive selection, attentive reflection", true,
         true, true},
        // The ablations of SAPT (sapt/ablations.h says exactly what each one removes).
        {"sapt-no-arm", "SAPT without attentive reflection: no pseudo-sample generators, no reflection KL", true,
         true, false},
        {"sapt-no-sals", "SAPT without shared attentive learning: each task's block trained alone (weight 1), the "
         "selection learned apart as a task classifier (plus reflection)", true, true, true},
        {"seqlora", "SeqLoRA: one LoRA block trained task after task (weight 1)", false, false, false},
        // Baselines (sapt/baselines/: each row's extras come from its MethodHooks).
        {"seqft", "SeqFT: every backbone weight fine-tuned task after task", false, false, false},
        {"inclora", "IncLoRA: a new LoRA per task, earlier ones frozen, all summed (weight 1)", false, true, false},
        {"replay", "Replay: SeqLoRA plus real earlier examples (SAPT's pseudo-sample budget) mixed into training",
         false, false, false},
        {"ewc", "EWC: SeqLoRA with a diagonal-Fisher penalty toward each earlier task's LoRA", false, false, false},
        {"lwf", "LwF: SeqLoRA distilling the previous model's outputs on the new task's inputs", false, false, false},
        {"l2p", "L2P: a pool of prompts with learnable keys, top-N chosen per input", false, false, false},
        {"olora", "O-LoRA: IncLoRA with each new A orthogonal to every earlier A (plus an L2 term)", false, true, false},
    };
    return table;
}

const MethodSpec& method_spec(const std::string& name) {
    std::string known;
    for (const MethodSpec& m : method_table()) {
        if (m.name == name) return m;
        known += (known.empty() ? "" : ", ") + m.name;
    }
    fail("--method", "unknown method (expected one of " + known + ", got '" + name + "')");
}

SaptOptions method_sapt_options(const MethodSpec& method, SaptOptions base) {
    base.selection = method.selection;
    return base;
}

void method_begin_task(const MethodSpec& method, SaptState& state, Rng& rng) {
    if (method.block_per_task || state.num_tasks == 0) sapt_add_task_on_device(state, rng);
}
