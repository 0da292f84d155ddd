// ask.h — asking a trained run: inputs (with the training template or raw) batched through the run's
// backbone and PET blocks, each batch routed by SALS with no task id, answered greedily or by sampling
// (temperature, top-k, top-p from a seeded RNG), with the selection weights each input gave every
// finished task's block. Also the JSONL input file of ./generate. Not here: loading the run (run_folder.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "sapt/run_folder.h"

struct AskInput {
    std::string input;
    std::string definition;  // the task instruction the template puts before the input ("" = none)
};

struct AskOptions {
    int max_new_tokens = 50;
    float temperature = 0.0f;  // 0: greedy (argmax, the first on ties)
    int top_k = 0;             // 0: every token
    float top_p = 1.0f;        // nucleus: the smallest set of most likely tokens whose mass reaches top_p
    uint64_t seed = 0;
    bool raw = false;          // true: the text goes to the model as is, without the template
    int batch_size = 16;
    Device device = Device::CPU;  // where the model and state live (moved by the caller)
};

struct AskAnswer {
    std::string prompt;            // the text the model read
    std::string answer;
    std::vector<double> weights;   // per finished task (task order); empty for methods without selection
};

// The model-input text of one input: the run's benchmark template (templates.h) or, raw, the input.
std::string ask_prompt(const RunSettings& settings, const AskInput& input, bool raw);

// Answers every input, options.batch_size at a time, in input order.
std::vector<AskAnswer> ask_run(const LoadedRun& run, RunMethod& method, const std::vector<AskInput>& inputs,
                               const AskOptions& options);

// A JSONL file of inputs: one JSON object a line with a string "input" (and optionally "definition");
// blank lines are skipped. Fails naming path:line for a line that is not such an object.
std::vector<AskInput> read_ask_jsonl(const std::string& path);

// The next token drawn from one row of logits (V values) as AskOptions ask, advancing rng; greedy when
// options.temperature is 0.
int32_t sample_next_token(const float* logits, int64_t V, const AskOptions& options, Rng& rng);
