// ask.cpp — answering inputs with a trained run. See ask.h.
#include "sapt/ask.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/templates.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "models/generate.h"
#include "sapt/batching.h"

std::string ask_prompt(const RunSettings& settings, const AskInput& input, bool raw) {
    if (raw) return input.input;
    const Benchmark benchmark = benchmark_from_name(settings.benchmark);
    return fill_prompt(prompt_prefix(benchmark, input.definition, !input.definition.empty()), input.input,
                       settings.compat_official);
}

int32_t sample_next_token(const float* logits, int64_t V, const AskOptions& options, Rng& rng) {
    if (options.temperature <= 0.0f) return (int32_t)(std::max_element(logits, logits + V) - logits);
    // Candidates by decreasing logit (stable: equal logits keep id order), cut by top-k, then by top-p.
    std::vector<int32_t> ids((size_t)V);
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    if (options.top_k > 0 && options.top_k < V) ids.resize((size_t)options.top_k);
    std::vector<double> p(ids.size());
    const double top = logits[ids[0]];
    double sum = 0;
    for (size_t i = 0; i < ids.size(); i++) sum += p[i] = std::exp((logits[ids[i]] - top) / options.temperature);
    size_t keep = ids.size();
    if (options.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p (at least one token)
        double mass = 0;
        for (size_t i = 0; i < ids.size(); i++) {
            mass += p[i] / sum;
            if (mass >= options.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    double kept = 0;
    for (size_t i = 0; i < keep; i++) kept += p[i];
    double u = rng_uniform(rng) * kept;
    for (size_t i = 0; i < keep; i++) {
        u -= p[i];
        if (u < 0) return ids[i];
    }
    return ids[keep - 1];
}

std::vector<AskAnswer> ask_run(const LoadedRun& run, RunMethod& method, const std::vector<AskInput>& inputs,
                               const AskOptions& options) {
    NoGradScope no_grad;
    const RunSettings& s = run.settings;
    std::vector<Instance> instances;
    for (const AskInput& in : inputs) {
        Instance instance;
        instance.index = (int)instances.size();
        instance.input = in.input;
        instance.prompt = ask_prompt(s, in, options.raw);
        // A raw text is cut as a whole (keep_template would look for the input inside the template).
        if (options.raw) instance.input = instance.prompt;
        instance.outputs = {""};
        instances.push_back(instance);
    }
    const std::vector<EncodedExample> examples = encode_examples(instances, run.tokenizer, s.batching);
    const PetHook hook = sapt_hook(method.state);
    Rng rng = rng_make(options.seed);
    GenerateOptions generate;
    generate.max_new_tokens = options.max_new_tokens;
    if (options.temperature > 0.0f) {
        generate.choose_next = [&](int64_t, const float* logits, int64_t V, const std::vector<int32_t>&) {
            return sample_next_token(logits, V, options, rng);
        };
    }
    std::vector<AskAnswer> answers;
    std::vector<int> all(examples.size());
    std::iota(all.begin(), all.end(), 0);
    for (const std::vector<int>& rows : batch_rows(all, std::max(1, options.batch_size))) {
        const Batch batch = make_batch(examples, rows, s.batching, false);
        const Tensor ids = tensor_to_device(batch.input_ids, options.device);
        const Tensor mask = tensor_to_device(batch.mask, options.device);
        const SalsOutput selection = sapt_begin_batch(method.state, run.model, tensor_to_device(batch.selection_ids, options.device),
                                                      tensor_to_device(batch.selection_mask, options.device), false);
        std::vector<float> w;
        if (selection.weights.defined()) w = tensor_values(selection.weights);  // (B, K), slot order
        const auto produced = model_generate(run.model, ids, mask, &hook, generate);
        for (size_t r = 0; r < rows.size(); r++) {
            std::vector<int32_t> out = produced[r];
            if (!out.empty() && out.back() == s.batching.eos_id) out.pop_back();
            AskAnswer a;
            a.prompt = instances[(size_t)rows[r]].prompt;
            a.answer = decode(run.tokenizer, std::vector<int>(out.begin(), out.end()));
            if (!w.empty()) {
                const size_t K = (size_t)method.state.num_tasks;
                a.weights = slots_to_task_order(std::vector<double>(w.begin() + r * K, w.begin() + (r + 1) * K));
            }
            answers.push_back(a);
        }
    }
    tape_clear();
    return answers;
}

std::vector<AskInput> read_ask_jsonl(const std::string& path) {
    const std::string text = read_file(path);
    std::vector<AskInput> inputs;
    size_t start = 0;
    for (int line_no = 1; start < text.size(); line_no++) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path + ":" + std::to_string(line_no);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fail(where, std::string("not a JSON object (") + e.what() + ")");
        }
        if (!j.is_object()) fail(where, "expected a JSON object with a string \"input\", got " + std::string(j.type_name()));
        if (!j.contains("input")) fail(where, "no \"input\" field (expected {\"input\": \"...\"})");
        if (!j["input"].is_string()) fail(where, "\"input\" must be a string (got " + std::string(j["input"].type_name()) + ")");
        AskInput in;
        in.input = j["input"].get<std::string>();
        if (j.contains("definition")) {
            if (!j["definition"].is_string()) fail(where, "\"definition\" must be a string");
            in.definition = j["definition"].get<std::string>();
        }
        inputs.push_back(in);
    }
    if (inputs.empty()) fail(path, "no inputs (expected one JSON object a line)");
    return inputs;
}
