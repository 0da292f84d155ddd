// lwf.cpp — the logits of a batch, the distillation loss and LwF's hooks. See lwf.h.
#include "sapt/baselines/lwf.h"

#include <cmath>
#include <memory>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

Tensor model_logits(const Model& model, const PetHook* hook, const Batch& batch, bool training) {
    if (model.kind == ModelKind::T5) {
        T5RunOptions run;
        run.training = training;
        run.recompute_layers = model.recompute_layers;  // as model_loss: --recompute layer holds for LwF's forward too
        T5EncoderOutput encoded = t5_encode(model.t5, batch.input_ids, batch.mask, hook, run);
        return t5_decode(model.t5, t5_shift_right(batch.labels, model.t5.config), encoded, hook, run);
    }
    LlamaRunOptions run;
    run.recompute_layers = model.recompute_layers;
    return llama_forward(model.llama, batch.input_ids, batch.mask, Tensor{}, hook, nullptr, false, nullptr, run);
}

Tensor logits_loss(const Model& model, const Tensor& logits, const Tensor& labels) {
    return model.kind == ModelKind::T5 ? t5_loss(logits, labels) : llama_loss(logits, labels);
}

std::vector<float> answer_positions(ModelKind kind, const Tensor& labels) {
    const std::vector<float> v = tensor_values(labels);
    const int64_t B = labels.dim(0), T = labels.dim(1);
    std::vector<float> positions((size_t)(B * T), 0.0f);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
            // LLaMA's logits at t predict token t + 1 (llama_loss shifts the same way).
            const int64_t target = kind == ModelKind::T5 ? t : t + 1;
            if (target < T && v[(size_t)(b * T + target)] != -100.0f) positions[(size_t)(b * T + t)] = 1.0f;
        }
    }
    return positions;
}

Tensor lwf_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                             const std::vector<float>& positions, float temperature) {
    if (student_logits.shape() != teacher_logits.shape() || student_logits.ndim() != 3 ||
        (int64_t)positions.size() != student_logits.dim(0) * student_logits.dim(1)) {
        fail("lwf_distillation_loss", "student and teacher must be the same (B, T, V) with B * T position weights "
                                      "(got " + shape_str(student_logits.shape()) + ", " +
                                          shape_str(teacher_logits.shape()) + ", " + std::to_string(positions.size()) + ")");
    }
    if (!(temperature > 0)) fail("lwf_distillation_loss", "the temperature must be positive");
    const int64_t V = student_logits.dim(2);
    double counted = 0;
    for (float m : positions) counted += m;
    const Device device = student_logits.device();
    if (counted == 0) return tensor_zeros({1}, DType::F32, device);
    // Teacher side, constant: p_t and p_t * m (the weight of each term of the KL sum), computed where the
    // logits live; only the position mask (B * T numbers) comes from the host.
    Tensor teacher_log_p, weights;
    {
        NoGradScope no_grad;
        const Tensor scaled = scale(teacher_logits, 1.0f / temperature);
        teacher_log_p = log_softmax(scaled);
        const int64_t rows = student_logits.dim(0) * student_logits.dim(1);
        const Tensor row_mask = tensor_to_device(tensor_from({rows}, positions), device);
        const Tensor mask = tensor_empty(student_logits.shape(), DType::F32, device);
        const long repeat_shape[2] = {(long)rows, (long)V}, repeat_strides[2] = {1, 0};  // each row's weight V times
        kernels_for(device).copy_strided(mask.f32(), row_mask.f32(), 2, repeat_shape, repeat_strides);
        weights = mul(softmax(scaled), mask);
    }
    // KL(p_t || p_s) = sum p_t (log p_t - log p_s), weighted by the position mask.
    const Tensor student_log_p = log_softmax(scale(student_logits, 1.0f / temperature));
    const Tensor kl = sum(mul(sub(teacher_log_p, student_log_p), weights));
    return scale(kl, (float)(temperature * temperature / counted));
}

// A frozen deep copy of the state's PET tensors: the teacher LwF distils from.
static SaptState frozen_copy(const SaptState& state) {
    SaptState copy = state;
    for (LoraBank& bank : copy.lora) {
        bank.current_A = tensor_clone(bank.current_A);
        bank.current_B = tensor_clone(bank.current_B);
        if (bank.previous_A.defined()) bank.previous_A = tensor_clone(bank.previous_A);
        if (bank.previous_B.defined()) bank.previous_B = tensor_clone(bank.previous_B);
    }
    if (copy.prompt.current.defined()) copy.prompt.current = tensor_clone(copy.prompt.current);
    if (copy.prompt.previous.defined()) copy.prompt.previous = tensor_clone(copy.prompt.previous);
    copy.training = false;
    return copy;
}

MethodHooks lwf_hooks(const Model& model, SaptState& state, const BaselineOptions& options) {
    if (state.options.selection) fail("--method lwf", "LwF runs on a single LoRA (selection must be off)");
    MethodHooks hooks;
    auto teacher = std::make_shared<std::unique_ptr<SaptState>>();
    const Model* m = &model;
    SaptState* s = &state;
    const float lambda = options.lwf_lambda, temperature = options.lwf_temperature;
    hooks.batch_loss = [m, s, teacher, lambda, temperature](const Batch& batch) {
        const PetHook hook = sapt_hook(*s);
        const Tensor student = model_logits(*m, &hook, batch, true);
        BatchLoss loss;
        loss.ce = logits_loss(*m, student, batch.labels);
        if (*teacher) {
            Tensor teacher_logits;
            {
                NoGradScope no_grad;
                const PetHook teacher_hook = sapt_hook(**teacher);
                teacher_logits = model_logits(*m, &teacher_hook, batch, false);
            }
            loss.extra = scale(lwf_distillation_loss(student, teacher_logits,
                                                     answer_positions(m->kind, batch.labels), temperature),
                               lambda);
            loss.extra_is_token_mean = true;  // divided by the answer positions it sums over
        }
        return loss;
    };
    hooks.after_task = [s, teacher](int, const std::vector<Instance>&, const std::vector<EncodedExample>&) {
        *teacher = std::make_unique<SaptState>(frozen_copy(*s));
    };
    // The teacher's PET tensors (the state as the previous task left it), named by bank and role.
    auto teacher_tensors = [](SaptState& t) {
        std::vector<std::pair<std::string, Tensor*>> named;
        for (size_t i = 0; i < t.lora.size(); i++) {
            const std::string base = "method.lwf.teacher." + std::to_string(i) + ".";
            named.emplace_back(base + "A", &t.lora[i].current_A);
            named.emplace_back(base + "B", &t.lora[i].current_B);
            named.emplace_back(base + "previous_A", &t.lora[i].previous_A);
            named.emplace_back(base + "previous_B", &t.lora[i].previous_B);
        }
        named.emplace_back("method.lwf.teacher.prompt", &t.prompt.current);
        named.emplace_back("method.lwf.teacher.previous_prompt", &t.prompt.previous);
        return named;
    };
    hooks.save = [teacher, teacher_tensors](MethodCheckpoint& out) {
        out.metadata = *teacher ? "teacher" : "none";
        if (!*teacher) return;
        for (const auto& [name, tensor] : teacher_tensors(**teacher)) {
            if (tensor->defined()) out.tensors.emplace_back(name, *tensor);
        }
    };
    hooks.restore = [s, teacher, teacher_tensors](const SafeTensorsFile& file) {
        teacher->reset();
        if (method_metadata(file) != "teacher") return;
        *teacher = std::make_unique<SaptState>(frozen_copy(*s));
        const Device device = s->embedding_table.device();
        for (const auto& [name, tensor] : teacher_tensors(**teacher)) {
            *tensor = file.has(name) ? method_tensor_from(file, name, device) : Tensor{};
        }
    };
    return hooks;
}
