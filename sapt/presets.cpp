// presets.cpp — the official settings as option lists. See presets.h.
#include "sapt/presets.h"

#include "engine/error.h"

// From ../shared/docs/SAPT.md section 3 (gen_script_{superni,long}_{t5,llama}.py) and 2.4 (the generators:
// 5000 steps; 2 % of each training set kept as pseudo samples). Effective batch 32 everywhere: LLaMA-2's
// official 2 per device x 4 accumulation x 4 GPUs is 2 x 16 on one device. kl is the paper's lambda
// (kl_ratio); --compat official reproduces the code's effective weight grad-accum x lambda.
const std::vector<Preset>& presets() {
    static const std::vector<Preset> table = {
        {"t5-superni", "T5 on SuperNI (gen_script_superni_t5.py)",
         {{"order", "superni_order1"}, {"lr", "3e-4"}, {"batch-size", "8"}, {"grad-accum", "4"}, {"epochs", "100"},
          {"lora-r", "4"}, {"lora-alpha", "32"}, {"kl", "0.5"}, {"max-source-len", "512"}, {"max-target-len", "50"},
          {"pseudo-fraction", "0.02"}, {"generator-steps", "5000"}}},
        {"t5-longseq", "T5 on Long Sequence (gen_script_long_t5.py)",
         {{"order", "long15_starts_yelp"}, {"lr", "3e-4"}, {"batch-size", "16"}, {"grad-accum", "2"}, {"epochs", "10"},
          {"lora-r", "8"}, {"lora-alpha", "32"}, {"kl", "0.1"}, {"max-source-len", "512"}, {"max-target-len", "50"},
          {"pseudo-fraction", "0.02"}, {"generator-steps", "5000"}}},
        {"llama2-superni", "LLaMA-2 on SuperNI (gen_script_superni_llama.py)",
         {{"order", "superni_order1"}, {"lr", "5e-5"}, {"batch-size", "2"}, {"grad-accum", "16"}, {"epochs", "50"},
          {"lora-r", "4"}, {"lora-alpha", "32"}, {"kl", "1"}, {"max-source-len", "1024"}, {"max-target-len", "50"},
          {"pseudo-fraction", "0.02"}, {"generator-steps", "5000"}}},
        {"llama2-longseq", "LLaMA-2 on Long Sequence (gen_script_long_llama.py)",
         {{"order", "long15_starts_yelp"}, {"lr", "5e-5"}, {"batch-size", "2"}, {"grad-accum", "16"}, {"epochs", "20"},
          {"lora-r", "4"}, {"lora-alpha", "32"}, {"kl", "2"}, {"max-source-len", "1024"}, {"max-target-len", "50"},
          {"pseudo-fraction", "0.02"}, {"generator-steps", "5000"}}},
    };
    return table;
}

const Preset& preset_named(const std::string& name) {
    std::string known;
    for (const Preset& p : presets()) {
        if (p.name == name) return p;
        known += (known.empty() ? "" : ", ") + p.name;
    }
    fail("--preset", "unknown preset (expected one of " + known + ", got '" + name + "')");
}

std::map<std::string, std::string> apply_preset(const std::map<std::string, std::string>& args, const Preset& preset) {
    std::map<std::string, std::string> resolved = args;
    for (const auto& [option, value] : preset.values) resolved.emplace(option, value);  // emplace keeps a set one
    return resolved;
}

std::string presets_help() {
    std::string text;
    for (const Preset& p : presets()) {
        text += "  " + p.name + std::string(p.name.size() < 16 ? 16 - p.name.size() : 1, ' ') + p.description + ":\n";
        std::string line = "   ";
        for (const auto& [option, value] : p.values) {
            const std::string item = " --" + option + " " + value;
            if (line.size() + item.size() > 104) {  // wrapped to the width of the rest of --help
                text += line + "\n";
                line = "   ";
            }
            line += item;
        }
        text += line + "\n";
    }
    return text;
}
