// templates.cpp — see templates.h. The literal strings below are the ones cl_dataset.py concatenates.
#include "data/templates.h"

#include <algorithm>

#include "engine/error.h"

const char* const kPromptSuffix = "\nOutput: ";

Benchmark benchmark_from_name(const std::string& name) {
    if (name == "SuperNI") return Benchmark::super_ni;
    if (name == "Long_Sequence") return Benchmark::long_sequence;
    fail("benchmark", "unknown benchmark (expected \"SuperNI\" or \"Long_Sequence\", got \"" + name + "\")");
}

std::string benchmark_name(Benchmark benchmark) {
    return benchmark == Benchmark::super_ni ? "SuperNI" : "Long_Sequence";
}

std::string prompt_prefix(Benchmark benchmark, const std::string& definition, bool has_definition) {
    if (benchmark == Benchmark::super_ni) {
        // load_SuperNI_dataset, input_mode hard-coded to 'zeroshot': no positive examples.
        return "Definition: " + definition + "\n\n" + "Now complete the following example -\n" + "Input: ";
    }
    return has_definition ? definition + "\n" : "";
}

// Python's template.format(arg) for a template whose only replacement field should be {0}: "{{" and "}}"
// are escapes. Returns false (format would raise) for any other use of a brace.
static bool python_format_one(const std::string& tmpl, const std::string& arg, std::string& out) {
    out.clear();
    for (size_t i = 0; i < tmpl.size(); i++) {
        char c = tmpl[i];
        if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
            out.push_back('{');
            i++;
        } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
            out.push_back('}');
            i++;
        } else if (c == '{' && tmpl.compare(i, 3, "{0}") == 0) {
            out += arg;
            i += 2;
        } else if (c == '{' || c == '}') {
            return false;
        } else {
            out.push_back(c);
        }
    }
    return true;
}

std::string fill_prompt(const std::string& prefix, const std::string& input, bool compat_official) {
    if (!compat_official) return prefix + input + kPromptSuffix;
    // cl_collator.get_instruction: `try: instruction = instruction.format(content) finally: return
    // instruction` — a format error is swallowed and the unformatted template returned.
    std::string tmpl = prefix + "{0}" + kPromptSuffix, filled;
    return python_format_one(tmpl, input, filled) ? filled : tmpl;
}

static size_t prompt_token_count(const std::string& prompt, const PromptTokenizer& tokenizer) {
    return tokenizer.encode(prompt).size() + (size_t)tokenizer.n_special_after;
}

// Byte offsets where a UTF-8 character starts (plus the end), so a cut never splits a character.
static std::vector<size_t> character_boundaries(const std::string& text) {
    std::vector<size_t> cuts;
    for (size_t i = 0; i < text.size(); i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) cuts.push_back(i);
    }
    cuts.push_back(text.size());
    return cuts;
}

std::string shorten_prompt_input(const std::string& prompt, const std::string& input, int max_tokens,
                                 const PromptTokenizer& tokenizer) {
    if (!tokenizer.encode) fail("shorten_prompt_input", "no tokenizer given (PromptTokenizer.encode is empty)");
    if (prompt_token_count(prompt, tokenizer) <= (size_t)max_tokens) return prompt;
    const std::string suffix = kPromptSuffix;
    if (prompt.size() < input.size() + suffix.size() ||
        prompt.compare(prompt.size() - suffix.size() - input.size(), input.size() + suffix.size(), input + suffix) != 0) {
        fail("shorten_prompt_input", "the prompt does not end with its input followed by \"\\nOutput: \"");
    }
    const std::string prefix = prompt.substr(0, prompt.size() - suffix.size() - input.size());
    // Binary search for the longest input prefix that fits. Token counts grow with the prefix (a longer
    // text never needs fewer pieces, up to rare merges at the cut), which is all the search needs.
    std::vector<size_t> cuts = character_boundaries(input);
    size_t lo = 0, hi = cuts.size() - 1;  // cuts[lo] fits (assumed), cuts[hi] does not
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (prompt_token_count(prefix + input.substr(0, cuts[mid]) + suffix, tokenizer) <= (size_t)max_tokens) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return prefix + input.substr(0, cuts[lo]) + suffix;
}

std::vector<int> encode_prompt(const std::string& prompt, const std::string& input, int max_tokens,
                               const PromptTokenizer& tokenizer, PromptCut cut) {
    if (!tokenizer.encode) fail("encode_prompt", "no tokenizer given (PromptTokenizer.encode is empty)");
    if (max_tokens <= tokenizer.n_special_after) {
        fail("encode_prompt", "max_tokens leaves no room for the prompt (expected > " +
                                  std::to_string(tokenizer.n_special_after) + ", got " + std::to_string(max_tokens) + ")");
    }
    const size_t room = (size_t)(max_tokens - tokenizer.n_special_after);
    std::vector<int> ids;
    if (cut == PromptCut::keep_template) {
        ids = tokenizer.encode(shorten_prompt_input(prompt, input, max_tokens, tokenizer));
    } else {
        ids = tokenizer.encode(prompt);
        if (ids.size() > room && cut == PromptCut::official_t5) {
            if (!tokenizer.decode) fail("encode_prompt", "official_t5 needs PromptTokenizer.decode");
            // tokenizer.decode(ids[:max_source_length], skip_special_tokens=True), then re-tokenized with
            // truncation=True: the first max - 1 pieces of the re-encoded text, then </s>.
            std::vector<int> head(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), (size_t)max_tokens));
            ids = tokenizer.encode(tokenizer.decode(head));
        }
    }
    if (ids.size() > room) ids.resize(room);
    return ids;
}
