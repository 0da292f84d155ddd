// generator.cpp — training a task's generation LoRA and sampling pseudo samples. See generator.h.
#include "sapt/generator.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "models/generate.h"
#include "models/model_device.h"
#include "sapt/sapt_device.h"

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

Tokenizer generator_tokenizer(const Tokenizer& tokenizer) {
    Tokenizer out = tokenizer;
    add_special_pieces(out, {kGenToken, kInpToken, kAnsToken});
    return out;
}

// "__gen__" -> "<definition>__inp__<input>" in ids (markers one id each), for the generator's own training.
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

// The generator's own embedding rows for the marker ids the backbone has no row for (ids V.. beyond its
// (V, C) table), or undefined when the table covers every id (HF T5 pads its table to 32128 rows, past the
// 32100 pieces). Each row starts as the mean of the rows of the pieces the backbone's tokenizer cuts the
// marker text into, so a new id begins where the text marker already was and training only sharpens it.
static Tensor generator_extra_rows(const Model& model, const Tokenizer& plain, const Tokenizer& marked) {
    const Tensor& table = model.kind == ModelKind::T5 ? model.t5.shared : model.llama.embed;  // (V, C)
    const int64_t V = table.dim(0), C = table.dim(1), E = vocab_size(marked) - V;
    if (E <= 0) return Tensor{};
    std::vector<float> values((size_t)(E * C), 0.0f);
    for (const AddedPiece& added : marked.added_pieces) {
        if (added.id < V) continue;
        const std::vector<int> pieces = encode(plain, added.text);
        for (int id : pieces) {
            const std::vector<float> row = tensor_values(slice(table, 0, id, id + 1));
            for (int64_t c = 0; c < C; c++) values[(size_t)((added.id - V) * C + c)] += row[(size_t)c] / (float)pieces.size();
        }
    }
    Tensor rows = tensor_to_device(tensor_from({E, C}, values), model_device(model));
    rows.data->requires_grad = true;
    rows.data->name = "generator.extra_vocab";
    return rows;
}

// Samples `count` continuations of the generator prompt, decoded with the KV cache. The repetition penalty
// looks at what the row's decoder has seen: T5's start token or LLaMA's prompt, then the new tokens. A row
// ends at EOS, which is not kept; ended[i] says whether row i reached it (or was cut at max_new_tokens).
static std::vector<std::vector<int>> sample_sequences(const Model& model, const PetHook& hook,
                                                      const EncodedExample& prompt, int count,
                                                      const BatchingOptions& batching,
                                                      const GeneratorOptions& options, Rng& rng,
                                                      std::vector<bool>& ended) {
    std::vector<int> rows((size_t)count, 0);
    const Batch batch = make_batch({prompt}, rows, batching, false);
    const std::vector<int> seen_before =
        model.kind == ModelKind::T5 ? std::vector<int>{model.t5.config.decoder_start_token_id} : prompt.prompt;
    GenerateOptions generation;
    generation.max_new_tokens = options.max_new_tokens;
    generation.choose_next = [&](int64_t, const float* logits, int64_t V, const std::vector<int32_t>& produced) {
        std::vector<int> so_far = seen_before;
        so_far.insert(so_far.end(), produced.begin(), produced.end());
        return (int32_t)sample_top_k(std::vector<float>(logits, logits + V), so_far, options.top_k,
                                     options.repetition_penalty, rng);
    };
    std::vector<std::vector<int>> produced;
    for (const std::vector<int32_t>& row : model_generate(model, batch.input_ids, batch.mask, &hook, generation)) {
        produced.emplace_back(row.begin(), row.end());
        ended.push_back(!produced.back().empty() && produced.back().back() == batching.eos_id);
        if (ended.back()) produced.back().pop_back();
    }
    return produced;
}

std::vector<Instance> pseudo_samples_from_texts(const std::vector<std::string>& texts, const std::vector<bool>& ended,
                                                const Task& task, Rng& rng, std::vector<GeneratedCheck>* checks) {
    if (ended.size() != texts.size()) {
        fail("pseudo_samples_from_texts", "one ended flag per text (expected " + std::to_string(texts.size()) +
                                              ", got " + std::to_string(ended.size()) + ")");
    }
    std::vector<std::string> instructions;
    std::vector<Instance> samples;
    if (checks) checks->clear();
    for (size_t i = 0; i < texts.size(); i++) {
        if (checks) checks->push_back(check_generated_text(texts[i], ended[i]));
        auto [instruction, input] = split_generated_text(texts[i]);
        if (!instruction.empty()) instructions.push_back(instruction);
        Instance instance;
        instance.index = (int)samples.size();
        instance.id = std::to_string(instance.index);
        instance.input = input;
        instance.outputs = {""};
        samples.push_back(instance);
    }
    // One randomly chosen generated instruction is every sample's definition (the official post-processing).
    const std::string definition = instructions.empty() ? "" : instructions[rng_below(rng, (uint32_t)instructions.size())];
    for (Instance& instance : samples) {
        instance.prompt = fill_prompt(prompt_prefix(task.benchmark, definition, !definition.empty()), instance.input,
                                      false);
    }
    return samples;
}

std::vector<Instance> generate_pseudo_samples(const Model& model, const Tokenizer& tokenizer, const Task& task,
                                              const BatchingOptions& batching, const GeneratorOptions& options,
                                              uint64_t seed, std::vector<GeneratedCheck>* checks) {
    if (task.train.empty()) fail("generator", task.name + ": no training instances to learn a generator from");
    if (options.max_target_length < 1) {  // the label cut below would be resize(SIZE_MAX)
        fail("generator", "max target length must be >= 1 (got " + std::to_string(options.max_target_length) + ")");
    }
    const Tokenizer marked = generator_tokenizer(tokenizer);
    const std::vector<EncodedExample> examples = generator_examples(marked, task, batching, options.max_target_length);

    SaptOptions lora;
    lora.lora_rank = options.lora_rank;
    lora.lora_alpha = options.lora_alpha;
    lora.selection = false;  // one generation LoRA, weight 1
    SaptState generator = sapt_create(model, lora);
    sapt_to_device(generator, model, model_device(model));
    Rng init_rng = rng_make(seed, 1);
    sapt_add_task_on_device(generator, init_rng);  // drawn on the host: the same numbers on every device
    MethodHooks own_rows;  // the LoRA, and the marker rows the backbone lacks (trained with it)
    own_rows.hook = sapt_hook(generator);
    own_rows.hook->extra_vocab = generator_extra_rows(model, tokenizer, marked);
    own_rows.trainable = [&generator, rows = own_rows.hook->extra_vocab] {
        std::vector<Tensor> params = sapt_trainable_parameters(generator);
        if (rows.defined()) params.push_back(rows);
        return params;
    };
    AdamW optimizer = adamw_create(own_rows.trainable(), options.train.lr, options.train.weight_decay);
    TrainPosition position;
    position.data_rng = rng_make(seed, 2);
    BatchingOptions generator_batching = batching;
    generator_batching.max_target_length = options.max_target_length;
    TrainOptions train = options.train;
    train.label = "generator " + task.name;
    train_task(model, generator, examples, {}, generator_batching, train, optimizer, position, nullptr, &own_rows);
    if (!position.finished) return {};  // interrupted (train.stop_on_interrupt): no half-trained generator samples

    generator.training = false;  // no selection weights to arm: the one LoRA has weight 1
    const PetHook hook = *own_rows.hook;
    Rng sample_rng = rng_make(seed, 3);
    const int count = pseudo_sample_count((int)task.train.size(), options.fraction);
    std::vector<bool> ended;
    const auto sequences = sample_sequences(model, hook, examples[0], count, batching, options, sample_rng, ended);

    std::vector<std::string> texts;
    for (const std::vector<int>& ids : sequences) texts.push_back(decode(marked, ids));
    return pseudo_samples_from_texts(texts, ended, task, sample_rng, checks);
}

std::vector<Instance> load_pseudo_samples(const std::string& pseudo_dir, Benchmark benchmark,
                                          const std::string& task_name, bool compat_official) {
    LoadOptions load;
    load.compat_official = compat_official;
    const std::string path = pseudo_dir + "/" + benchmark_name(benchmark) + "/" + task_name + "/train.json";
    return read_split_file(path, benchmark, load).instances;
}
