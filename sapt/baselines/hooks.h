// hooks.h — the one interface through which the continual loop reaches a baseline's extras: what it
// trains (when not the SAPT state's PET blocks), which PET hook the model gets and how a batch arms it,
// the loss of a batch (cross-entropy plus the method's term), real examples to mix into a task's training
// set, and what to remember after a task. Every member is optional; an empty MethodHooks (sapt, seqlora,
// inclora) leaves the loop exactly as it is. Not here: the methods themselves (one file each beside this).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "engine/safetensors.h"
#include "models/model.h"
#include "sapt/batching.h"
#include "sapt/sapt.h"

// The settings of every baseline, with the defaults of the papers' released scripts where one exists.
struct BaselineOptions {
    float replay_fraction = 0.02f;   // Replay: memory per task; the loop sets SAPT's pseudo-sample fraction
    float ewc_lambda = 1000.0f;      // EWC: penalty weight (lambda / 2 sum F (theta - theta*)^2)
    int ewc_fisher_samples = 64;     // EWC: training examples the diagonal Fisher is estimated on
    float lwf_lambda = 1.0f;         // LwF: weight of the distillation term
    float lwf_temperature = 2.0f;    // LwF: softmax temperature of teacher and student (Hinton et al.)
    int l2p_pool_size = 10;          // L2P: M prompts in the pool (L2P's default)
    int l2p_prompt_length = 5;       // L2P: L tokens per prompt (L2P's default)
    int l2p_top_n = 5;               // L2P: N prompts chosen per example (L2P's default)
    float l2p_match_lambda = 0.1f;   // L2P: weight of the key-query matching term (l2p-pytorch's default)
    float prompt_lr = 0.3f;          // soft prompts' learning rate (L2P's, and SAPT-Prompt's prompt): prompt
                                     // tuning needs a far larger one than LoRA (Lester et al., EMNLP 2021: 0.3)
    float olora_lambda1 = 0.5f;      // O-LoRA: orthogonality weight (O-LoRA's released scripts)
    float olora_lambda2 = 0.0f;      // O-LoRA: weight of the L2 term on the new LoRA (released scripts: 0)
    uint64_t seed = 42;              // memory draws (Replay), pool initialisation (L2P)
};

// The loss of one training batch: the cross-entropy (what the log reports as "loss") and the method's
// own term, already weighted (undefined: none). The trainer backpropagates ce + extra.
struct BatchLoss {
    Tensor ce;
    Tensor extra;
    // How `extra` is normalised, for data parallelism (sapt/data_parallel.h): a mean over the answer tokens
    // (LwF's distillation) is weighted like the cross-entropy; anything else (a mean over rows, a penalty on
    // the parameters) by the rank's share of the rows.
    bool extra_is_token_mean = false;
};

// A method's own part of a loop checkpoint (MethodHooks::save fills it).
struct MethodCheckpoint {
    std::vector<std::pair<std::string, Tensor>> tensors;  // names start with "method."
    std::string metadata;                                  // stored as the metadata entry "method.state"
};

// The helpers the methods' save / restore share: `name` read from a checkpoint file (with its shape checked
// against `shape` when given) and put on `device`; or its values copied into `into`, wherever it lives.
Tensor method_tensor_from(const SafeTensorsFile& file, const std::string& name, Device device);
void method_tensor_into(const SafeTensorsFile& file, const std::string& name, const Tensor& into);
std::string method_metadata(const SafeTensorsFile& file);

struct MethodHooks {
    // > 0: the learning rate of this method's tensors instead of --lr (L2P's prompts).
    float learning_rate = 0;
    // Replaces sapt_trainable_parameters(state) (L2P: the prompt pool; SeqFT: every backbone weight).
    std::function<std::vector<Tensor>()> trainable;
    // Replaces sapt_hook(state) (L2P: the pool's prefix; SeqFT: no hook).
    std::optional<PetHook> hook;
    // Replaces sapt_begin_batch: arms the hook for a batch's selection ids (B, T) and mask (B, T).
    std::function<void(const Tensor& ids, const Tensor& mask, bool training)> begin_batch;
    // Replaces model_loss for training batches (the hook is already armed for `batch`).
    std::function<BatchLoss(const Batch& batch)> batch_loss;
    // Real instances of earlier tasks to mix into task `task`'s training set (Replay).
    std::function<std::vector<Instance>(int task)> extra_training_instances;
    // Runs once task `task` is trained, with the task's whole training split (task.train: Replay draws its
    // memory from it) and the encoded examples it was trained on (EWC estimates the Fisher on them); LwF
    // keeps the teacher.
    std::function<void(int task, const std::vector<Instance>& train, const std::vector<EncodedExample>& examples)>
        after_task;
    // What the method keeps besides the SAPT state, for the loop checkpoint (tensors named "method.*" and one
    // metadata text), and how a resumed run puts it back. A method with state (after_task or trainable) and
    // without these cannot resume.
    std::function<void(MethodCheckpoint& out)> save;
    std::function<void(const SafeTensorsFile& file)> restore;
};

// The hooks of `method` ("ewc", "lwf", ...; an empty MethodHooks for methods without extras). `model`
// and `state` must outlive the hooks; SeqFT turns `model`'s backbone trainable (pass a private copy).
MethodHooks make_method_hooks(const std::string& method, Model& model, SaptState& state,
                              const BatchingOptions& batching, const BaselineOptions& options);

// What the loop calls; each falls back to the SAPT state when `hooks` is null or lacks the member.
std::vector<Tensor> method_trainable(const MethodHooks* hooks, const SaptState& state);
PetHook method_hook(const MethodHooks* hooks, SaptState& state);
// The selection output of sapt_begin_batch, or an empty one when the hooks arm the batch themselves.
SalsOutput method_begin_batch(const MethodHooks* hooks, SaptState& state, const Model& model, const Tensor& ids,
                              const Tensor& mask, bool training);
// Without hooks: {model_loss(model, hook, batch, true), undefined}.
BatchLoss method_batch_loss(const MethodHooks* hooks, const Model& model, const PetHook& hook, const Batch& batch);
