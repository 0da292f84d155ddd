// cl_benchmark.h — the CL_Benchmark (and SAPT pseudo-sample) JSON loader: one task folder
// <root>/<benchmark>/<task>/{train,dev,test}.json (+ labels.json for Long_Sequence) → a Task whose
// instances carry their official prompt text. Not here: tokenization, batching, the task orders (orders.h).
//
// The two benchmarks differ: SuperNI instances have an "id" and "output" is a LIST of references (a plain
// string for the three classification tasks); Long_Sequence instances have no id, "output" is a string and
// the folder has labels.json. Released data quirks handled here: dev.json is a copy of test.json (dev =
// test when dev.json is absent), and some test.json files are missing (see LoadOptions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/templates.h"

struct Instance {
    int index = 0;        // position in its file's "Instances" array; the official Instance.id is str(index)
    std::string id;       // the file's "id" field (SuperNI), else str(index)
    std::string input;    // unstripped, exactly as in the file
    std::vector<std::string> outputs;  // every reference output; one for Long_Sequence and pseudo-samples
    std::string label;    // the training target and the official single evaluation reference
    std::string prompt;   // the model-input text (T5 source == LLaMA prompt), see templates.h
};

struct Task {
    std::string name;
    Benchmark benchmark = Benchmark::super_ni;
    std::string definition;           // Definition[0].strip() of train.json (of test.json without train); "" if none
    std::vector<std::string> labels;  // labels.json (Long_Sequence), else empty
    std::vector<Instance> train, dev, test;
    std::vector<std::string> notes;   // what the loader substituted (dev = test, held-out test, ...), for logs
};

struct LoadOptions {
    // Reproduce the official loader: for an instance with several outputs the label is
    // output[random.randint(0, n-1)] from Python's generator seeded with `seed` right before each file is
    // read (what the prompt fixtures record; the official run's draws also depend on the files it read
    // earlier). Off: the label is the first output, and metrics take the best over all outputs.
    bool compat_official = false;
    uint64_t seed = 42;
    // test.json missing: by default the test split (and dev) becomes every `holdout_every`-th instance of
    // train.json (indices k-1, 2k-1, ...), removed from train, and a note says so. true: throw instead.
    bool require_test_file = false;
    int holdout_every = 10;
    // train.json missing (dbpedia): throw by default; true loads an empty train split (evaluation only).
    bool allow_missing_train = false;
};

// Loads <root>/<benchmark>/<task_name>. `root` is e.g. shared/data/CL_Benchmark or
// shared/data/generated_data/lora_gen_superni_t5. Throws sapt_error naming the file for a missing or
// malformed file, a missing field, a file without instances or text that is not UTF-8. An output that
// labels.json does not list is not an error (the released mnli and qqp files have such outputs): it is
// kept, and Task.notes gets one line per split naming the file, the count and the first instance.
Task load_task(const std::string& root, const std::string& benchmark, const std::string& task_name,
               const LoadOptions& options = {});

// The file whose absence would stop load_task on this task with these options, "" when the task loads:
// train.json (unless allow_missing_train; also when the folder has neither split), test.json under
// require_test_file, or the task folder itself. Lets a caller skip a task without data before loading any.
std::string missing_task_file(const std::string& root, const std::string& benchmark, const std::string& task_name,
                              const LoadOptions& options = {});

// One split file on its own: its definition and instances (prompts filled with its own Definition).
struct SplitFile {
    std::string definition;
    bool has_definition = false;
    std::vector<Instance> instances;
};
SplitFile read_split_file(const std::string& path, Benchmark benchmark, const LoadOptions& options = {});

// labels.json: a JSON list of strings.
std::vector<std::string> read_labels_file(const std::string& path);
