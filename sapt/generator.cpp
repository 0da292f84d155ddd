// generator.cpp — training a task's generation LoRA and sampling pseudo samples. See generator.h.
#include "sapt/generator.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

static const char* const kGenToken = "__gen__";
static const char* const kInpToken = "__inp__";
static const char* const kAnsToken = "__ans__";

int pseudo_sample_count(int train_size, float fraction) {
    // + 1e-4: 0.02f is slightly below 0.02, and 250 * 0.02f must still give 5
    return std::max(1, (int)std::floor((double)train_size * fraction + 1e-4));
}

static std::string strip(const std::string& s) {
    const char* ws = " \t\n\r";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::pair<std::string, std::string> split_generated_text(const std::string& text) {
    std::string rest = text;
    size_t ans = rest.find(kAnsToken);
    if (ans != std::string::npos) rest = rest.substr(0, ans);
    size_t inp = rest.find(kInpToken);
    if (inp == std::string::npos) return {"", strip(rest)};
    return {strip(rest.substr(0, inp)), strip(rest.substr(inp + std::string(kInpToken).size()))};
}

// "__gen__" -> "<definition>__inp__<input>" in ids, for the generator's own training.
static std::vector<EncodedExample> generator_examples(const Tokenizer& tokenizer, const Task& task,
                                                      const BatchingOptions& batching, int max_target_length) {
    std::vector<int> source = encode(tokenizer, kGenToken);
    EncodedExample base;
    if (batching.model_kind == ModelKind::T5) {
        base.prompt = source;
        base.prompt.push_back(batching.eos_id);
    } else {
        base.prompt.push_back(batching.bos_id);
        base.prompt.insert(base.prompt.end(), source.begin(), source.end());
    }
    std::vector<EncodedExample> out;
    for (const Instance& instance : task.train) {
        EncodedExample ex = base;
        ex.label = encode(tokenizer, task.definition + kInpToken + instance.input);
        if ((int)ex.label.size() > max_target_length - 1) ex.label.resize((size_t)max_target_length - 1);
        ex.label.push_back(batching.eos_id);
        out.push_back(ex);
    }
    return out;
}

// One row of next-token logits: HF's repetition penalty on the tokens so far, then top-k sampling.
static int sample_top_k(std::vector<float> logits, const std::vector<int>& so_far, int top_k, float penalty, Rng& rng) {
    for (int id : so_far) {
        float& l = logits[(size_t)id];
        l = l < 0 ? l * penalty : l / penalty;
    }
    std::vector<int> ids(logits.size());
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)i;
    const size_t k = std::min(ids.size(), (size_t)std::max(1, top_k));
    std::partial_sort(ids.begin(), ids.begin() + (long)k, ids.end(),
                      [&](int a, int b) { return logits[(size_t)a] > logits[(size_t)b] || (logits[(size_t)a] == logits[(size_t)b] && a < b); });
    const float top = logits[(size_t)ids[0]];
    std::vector<double> p(k);
    double total = 0;
    for (size_t i = 0; i < k; i++) total += p[i] = std::exp((double)(logits[(size_t)ids[i]] - top));
    double u = rng_uniform(rng) * total;
    for (size_t i = 0; i < k; i++) {
        if ((u -= p[i]) < 0) return ids[i];
    }
    return ids[k - 1];
}

// Samples `count` continuations of the generator prompt. The whole prefix is recomputed each step (no
// cache): generation is short next to the generator's training.
static std::vector<std::vector<int>> sample_sequences(const Model& model, const PetHook& hook,
                                                      const EncodedExample& prompt, int count,
                                                      const BatchingOptions& batching,
                                                      const GeneratorOptions& options, Rng& rng) {
    NoGradScope no_grad;
    std::vector<int> rows((size_t)count, 0);
    const Batch batch = make_batch({prompt}, rows, batching, false);
    std::vector<std::vector<int>> produced((size_t)count);
    std::vector<bool> finished((size_t)count, false);
    T5EncoderOutput encoded;
    if (model.kind == ModelKind::T5) encoded = t5_encode(model.t5, batch.input_ids, batch.mask, &hook, {});
    const int start_id = model.kind == ModelKind::T5 ? model.t5.config.decoder_start_token_id : -1;
    for (int step = 0; step < options.max_new_tokens; step++) {
        std::vector<std::vector<int>> so_far((size_t)count);
        std::vector<int32_t> flat;
        for (int b = 0; b < count; b++) {
            so_far[(size_t)b] = model.kind == ModelKind::T5 ? std::vector<int>{start_id} : prompt.prompt;
            for (int id : produced[(size_t)b]) so_far[(size_t)b].push_back(id);
        }
        // Unfinished rows all have the longest length; finished rows are padded and their output ignored.
        size_t T = 0;
        for (const auto& s : so_far) T = std::max(T, s.size());
        for (auto& s : so_far) {
            s.resize(T, batching.pad_id);
            flat.insert(flat.end(), s.begin(), s.end());
        }
        Tensor ids = tensor_from_i32({(int64_t)count, (int64_t)T}, flat);
        Tensor logits = model.kind == ModelKind::T5
                            ? t5_decode(model.t5, ids, encoded, &hook, {})
                            : llama_forward(model.llama, ids, Tensor{}, Tensor{}, &hook, nullptr, false);
        const int64_t V = logits.dim(2);
        const std::vector<float> last = tensor_values(slice(logits, 1, (int64_t)T - 1, (int64_t)T));
        bool all_done = true;
        for (int b = 0; b < count; b++) {
            if (finished[(size_t)b]) continue;
            std::vector<float> row(last.begin() + b * V, last.begin() + (b + 1) * V);
            const int next = sample_top_k(row, so_far[(size_t)b], options.top_k, options.repetition_penalty, rng);
            if (next == batching.eos_id) finished[(size_t)b] = true;
            else produced[(size_t)b].push_back(next);
            all_done = all_done && finished[(size_t)b];
        }
        tape_clear();
        if (all_done) break;
    }
    return produced;
}

std::vector<Instance> generate_pseudo_samples(const Model& model, const Tokenizer& tokenizer, const Task& task,
                                              const BatchingOptions& batching, const GeneratorOptions& options,
                                              uint64_t seed) {
    if (task.train.empty()) fail("generator", task.name + ": no training instances to learn a generator from");
    if (options.max_target_length < 1) {  // the label cut below would be resize(SIZE_MAX)
        fail("generator", "max target length must be >= 1 (got " + std::to_string(options.max_target_length) + ")");
    }
    const std::vector<EncodedExample> examples = generator_examples(tokenizer, task, batching, options.max_target_length);

    SaptOptions lora;
    lora.lora_rank = options.lora_rank;
    lora.lora_alpha = options.lora_alpha;
    lora.selection = false;  // one generation LoRA, weight 1
    SaptState generator = sapt_create(model, lora);
    Rng init_rng = rng_make(seed, 1);
    sapt_add_task(generator, init_rng);
    AdamW optimizer = adamw_create(sapt_trainable_parameters(generator), options.train.lr, options.train.weight_decay);
    TrainPosition position;
    position.data_rng = rng_make(seed, 2);
    BatchingOptions generator_batching = batching;
    generator_batching.max_target_length = options.max_target_length;
    TrainOptions train = options.train;
    train.label = "generator " + task.name;
    train_task(model, generator, examples, {}, generator_batching, train, optimizer, position);

    generator.training = false;  // no selection weights to arm: the one LoRA has weight 1
    const PetHook hook = sapt_hook(generator);
    Rng sample_rng = rng_make(seed, 3);
    const int count = pseudo_sample_count((int)task.train.size(), options.fraction);
    const auto sequences = sample_sequences(model, hook, examples[0], count, batching, options, sample_rng);

    std::vector<std::string> instructions;
    std::vector<Instance> samples;
    for (const auto& ids : sequences) {
        auto [instruction, input] = split_generated_text(decode(tokenizer, ids));
        if (!instruction.empty()) instructions.push_back(instruction);
        Instance instance;
        instance.index = (int)samples.size();
        instance.id = std::to_string(instance.index);
        instance.input = input;
        instance.outputs = {""};
        samples.push_back(instance);
    }
    // One randomly chosen generated instruction is every sample's definition (the official post-processing).
    const std::string definition = instructions.empty() ? "" : instructions[rng_below(sample_rng, (uint32_t)instructions.size())];
    for (Instance& instance : samples) {
        instance.prompt = fill_prompt(prompt_prefix(task.benchmark, definition, !definition.empty()), instance.input,
                                      false);
    }
    return samples;
}

std::vector<Instance> load_pseudo_samples(const std::string& pseudo_dir, Benchmark benchmark,
                                          const std::string& task_name, bool compat_official) {
    LoadOptions load;
    load.compat_official = compat_official;
    const std::string path = pseudo_dir + "/" + benchmark_name(benchmark) + "/" + task_name + "/train.json";
    return read_split_file(path, benchmark, load).instances;
}
