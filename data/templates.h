// templates.h — the instruction templates of SAPT's loader (cl_dataset.py) and collator (cl_collator.py),
// byte for byte, and how a prompt too long for the model is cut. T5 and LLaMA get the same prompt text:
//   SuperNI:        "Definition: " + definition + "\n\nNow complete the following example -\nInput: " + input + "\nOutput: "
//   Long_Sequence:  definition + "\n" (only if the file has one) + input + "\nOutput: "
// Tokenization is not done here: the caller passes the tokenizer in as callbacks (PromptTokenizer).
#pragma once
#include <functional>
#include <string>
#include <vector>

enum class Benchmark { super_ni, long_sequence };

// "SuperNI" / "Long_Sequence", the folder names under CL_Benchmark; anything else throws.
Benchmark benchmark_from_name(const std::string& name);
std::string benchmark_name(Benchmark benchmark);

// Every prompt ends with this, trailing space included.
extern const char* const kPromptSuffix;  // "\nOutput: "

// The text before the input. `definition` is already stripped; `has_definition` is false for a
// Long_Sequence file whose Definition list is empty (copa), which then starts directly with the input.
std::string prompt_prefix(Benchmark benchmark, const std::string& definition, bool has_definition);

// prefix + input + kPromptSuffix. Under compat_official the official str.format is reproduced instead,
// including its bug: a definition with a brace that format cannot parse makes the collator return the
// unfilled template ("{0}" literally, no input). No shipped definition contains a brace.
std::string fill_prompt(const std::string& prefix, const std::string& input, bool compat_official);

// The tokenizer as seen from here, so data/ does not depend on tokenizer/.
struct PromptTokenizer {
    std::function<std::vector<int>(const std::string&)> encode;  // text → ids, no BOS/EOS
    std::function<std::string(const std::vector<int>&)> decode;  // ids → text (needed by official_t5 only)
    int n_special_after = 0;  // ids the model appends after the prompt and that count toward the limit (T5 </s>: 1)
};

enum class PromptCut {
    // Ours (default): shorten only the instance input, so "Definition…" and the closing "Output: " stay.
    keep_template,
    // SAPT seq2seq_call: if encode(prompt) + </s> exceeds the limit, decode the first `max_tokens` ids and
    // re-encode that text, cut to max_tokens - 1. The closing "Output: " is lost.
    official_t5,
    // SAPT decoder_call: keep the first `max_tokens` ids. The closing "Output: " is lost.
    official_llama,
};

// Ids of the prompt (without the ids in n_special_after), at most max_tokens - n_special_after of them.
// `input` must be the instance input the prompt was built from (keep_template cuts inside it).
std::vector<int> encode_prompt(const std::string& prompt, const std::string& input, int max_tokens,
                               const PromptTokenizer& tokenizer, PromptCut cut);

// keep_template on text: the prompt with its input cut to the longest prefix (at a UTF-8 character
// boundary) that keeps the whole prompt within max_tokens. If even an empty input does not fit, returns
// the prompt with an empty input (encode_prompt then cuts its ids).
std::string shorten_prompt_input(const std::string& prompt, const std::string& input, int max_tokens,
                                 const PromptTokenizer& tokenizer);
