// presets.h — `./train --preset NAME`: the official hyper-parameters of one benchmark and backbone family
// (the SAPT generation scripts, ../shared/docs/SAPT.md sections 2.4 and 3) as ./train options, so that a GPU
// user reproduces the paper's setup with one flag. A preset only fills options the command line leaves
// unset: an explicit flag always wins. Not here: parsing or checking the values (train.cpp does, as for
// typed flags), the data or the model (still --data and --model).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

struct Preset {
    std::string name;
    std::string description;                                  // one line for --help
    std::vector<std::pair<std::string, std::string>> values;  // ./train option (without --) -> value
};

// Every preset, in --help order: t5-superni, t5-longseq, llama2-superni, llama2-longseq.
const std::vector<Preset>& presets();
// The preset called `name`; throws naming the known ones otherwise.
const Preset& preset_named(const std::string& name);
// `args` with every value of `preset` that `args` does not set itself (explicit flags override the preset).
std::map<std::string, std::string> apply_preset(const std::map<std::string, std::string>& args, const Preset& preset);
// The presets and what each sets, as --help lists them.
std::string presets_help();
