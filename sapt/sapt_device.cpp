// sapt_device.cpp — see sapt_device.h. A state is a handful of tensors per adapted site plus the SALS
// module; each is replaced by its copy on the target device (tensor_to_device keeps name and
// requires_grad, and returns the tensor itself when it is already there).
#include "sapt/sapt_device.h"

#include "engine/error.h"

static void move(Tensor& t, Device device) {
    if (t.defined()) t = tensor_to_device(t, device);
}

// Every SAPT tensor, leaving the embedding table alone.
static void move_sapt_tensors(SaptState& state, Device device) {
    for (LoraBank& bank : state.lora) {
        move(bank.current_A, device);
        move(bank.current_B, device);
        move(bank.previous_A, device);
        move(bank.previous_B, device);
    }
    move(state.prompt.current, device);
    move(state.prompt.previous, device);
    Sals& sals = state.sals;
    for (Tensor* t : {&sals.down, &sals.up, &sals.norm_weight, &sals.norm_bias, &sals.key, &sals.previous_keys}) {
        move(*t, device);
    }
    state.batch_weights = Tensor{};  // armed for the old placement; sapt_begin_batch arms it again
}

void sapt_to_device(SaptState& state, const Model& model, Device device) {
    const Tensor& table = model.kind == ModelKind::T5 ? model.t5.shared : model.llama.embed;
    if (table.device() != device) {
        fail("sapt_to_device", "the model's embedding table is on another device (expected the model on the "
                               "target device; call model_to_device first)");
    }
    state.embedding_table = table;
    move_sapt_tensors(state, device);
}

void sapt_add_task_on_device(SaptState& state, Rng& rng) {
    const Device device = state.embedding_table.device();
    // sapt_add_task stacks the finished task with host tensors it draws (rng.h initialises host memory
    // only), so every part of the state meets on the host for the step and goes back afterwards.
    move_sapt_tensors(state, Device::CPU);
    sapt_add_task(state, rng);
    move_sapt_tensors(state, device);
}
