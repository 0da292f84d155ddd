// cl_benchmark.cpp — see cl_benchmark.h. Mirrors cl_dataset.py's load_SuperNI_dataset /
// load_LongSeq_dataset for the per-instance fields, and adds the checks and fallbacks they lack.
#include "data/cl_benchmark.h"

#include "data/json_file.h"
#include "data/python_random.h"
#include "data/python_text.h"
#include "engine/error.h"

using nlohmann::json;

// Definition is a list of strings in every shipped file; the official code also accepts a plain string.
// SuperNI indexes [0] unconditionally (an empty list is an error there too); Long_Sequence skips an empty one.
static void read_definition(const json& file, const std::string& path, Benchmark benchmark, SplitFile& out) {
    auto it = file.find("Definition");
    if (it == file.end()) fail(path, "missing field \"Definition\" (expected a list of strings)");
    const json& definition = *it;
    if (definition.is_string()) {
        out.has_definition = benchmark == Benchmark::super_ni || !definition.get<std::string>().empty();
        out.definition = python_strip(definition.get<std::string>());
        return;
    }
    if (!definition.is_array()) fail(path, "\"Definition\" has the wrong type (expected a list of strings, got " + std::string(definition.type_name()) + ")");
    if (definition.empty()) {
        if (benchmark == Benchmark::super_ni) fail(path, "\"Definition\" is empty (expected at least one string for SuperNI)");
        out.has_definition = false;
        return;
    }
    if (!definition[0].is_string()) fail(path, "\"Definition\"[0] has the wrong type (expected a string, got " + std::string(definition[0].type_name()) + ")");
    out.has_definition = true;
    out.definition = python_strip(definition[0].get<std::string>());
}

static std::string instance_where(const std::string& path, size_t index) {
    return path + ": instance " + std::to_string(index);
}

static Instance read_instance(const json& item, size_t index, const std::string& path, bool compat_official,
                              PythonRandom& rng) {
    const std::string where = instance_where(path, index);
    if (!item.is_object()) fail(where, "wrong type (expected an object, got " + std::string(item.type_name()) + ")");
    auto input = item.find("input");
    if (input == item.end()) fail(where, "missing field \"input\"");
    if (!input->is_string()) fail(where, "\"input\" has the wrong type (expected a string, got " + std::string(input->type_name()) + ")");
    auto output = item.find("output");
    if (output == item.end()) fail(where, "missing field \"output\"");

    Instance inst;
    inst.index = (int)index;
    inst.input = input->get<std::string>();
    auto id = item.find("id");
    if (id != item.end() && !id->is_string()) fail(where, "\"id\" has the wrong type (expected a string, got " + std::string(id->type_name()) + ")");
    inst.id = id != item.end() ? id->get<std::string>() : std::to_string(index);

    if (output->is_string()) {
        inst.outputs = {output->get<std::string>()};
        inst.label = inst.outputs[0];
    } else if (output->is_array()) {
        if (output->empty()) fail(where, "\"output\" is an empty list (expected at least one reference)");
        for (const json& reference : *output) {
            if (!reference.is_string()) fail(where, "\"output\" holds a non-string (expected strings, got " + std::string(reference.type_name()) + ")");
            inst.outputs.push_back(reference.get<std::string>());
        }
        // The official loader draws for every list, even a one-element list, so each list consumes a draw.
        size_t choice = compat_official ? (size_t)python_randint(rng, 0, (int64_t)inst.outputs.size() - 1) : 0;
        inst.label = inst.outputs[choice];
    } else {
        fail(where, "\"output\" has the wrong type (expected a string or a list of strings, got " + std::string(output->type_name()) + ")");
    }
    return inst;
}

SplitFile read_split_file(const std::string& path, Benchmark benchmark, const LoadOptions& options) {
    json file = read_json_file(path);
    if (!file.is_object()) fail(path, "wrong top-level type (expected an object with \"Definition\" and \"Instances\", got " + std::string(file.type_name()) + ")");
    SplitFile out;
    read_definition(file, path, benchmark, out);
    auto instances = file.find("Instances");
    if (instances == file.end()) fail(path, "missing field \"Instances\" (expected a list of instances)");
    if (!instances->is_array()) fail(path, "\"Instances\" has the wrong type (expected a list, got " + std::string(instances->type_name()) + ")");
    if (instances->empty()) fail(path, "task has no instances (expected at least 1, got 0)");

    const std::string prefix = prompt_prefix(benchmark, out.definition, out.has_definition);
    PythonRandom rng = python_random_seeded(options.seed);
    out.instances.reserve(instances->size());
    for (size_t i = 0; i < instances->size(); i++) {
        Instance inst = read_instance((*instances)[i], i, path, options.compat_official, rng);
        inst.prompt = fill_prompt(prefix, inst.input, options.compat_official);
        out.instances.push_back(std::move(inst));
    }
    return out;
}

std::vector<std::string> read_labels_file(const std::string& path) {
    json file = read_json_file(path);
    if (!file.is_array()) fail(path, "wrong type (expected a list of label strings, got " + std::string(file.type_name()) + ")");
    std::vector<std::string> labels;
    for (const json& label : file) {
        if (!label.is_string()) fail(path, "a label is not a string (got " + std::string(label.type_name()) + ")");
        labels.push_back(label.get<std::string>());
    }
    if (labels.empty()) fail(path, "no labels (expected at least 1, got 0)");
    return labels;
}

// test.json missing: every k-th train instance becomes the test split. A fixed stride keeps the class
// balance of files written class by class, and needs no random generator.
static void hold_out_test_split(Task& task, int every, const std::string& test_path, const std::string& train_path) {
    if (every < 2) fail("LoadOptions", "holdout_every must be at least 2 (got " + std::to_string(every) + ")");
    std::vector<Instance> kept, held_out;
    for (size_t i = 0; i < task.train.size(); i++) {
        ((i + 1) % (size_t)every == 0 ? held_out : kept).push_back(std::move(task.train[i]));
    }
    if (held_out.empty()) {
        fail(test_path, "missing, and " + train_path + " is too small to hold out a test split (expected at least " +
                            std::to_string(every) + " instances, got " + std::to_string(task.train.size()) + ")");
    }
    task.train = std::move(kept);
    task.test = std::move(held_out);
    task.notes.push_back(test_path + " is missing: test = every " + std::to_string(every) + "th instance of " + train_path +
                         " (" + std::to_string(task.test.size()) + " instances), removed from train");
}

// An output missing from labels.json is kept, with a note: the released data has such outputs (mnli's
// test.json has "-" for 131 instances; qqp's outputs are yes/no while its labels.json says True/False),
// and they are still valid references to score against. Refusing them would refuse the benchmark.
static void note_outputs_outside_labels(Task& task, const std::vector<Instance>& split, const std::string& path) {
    size_t outside = 0;
    std::string first;
    for (const Instance& inst : split) {
        for (const std::string& output : inst.outputs) {
            bool known = false;
            for (const std::string& label : task.labels) known = known || label == output;
            if (known) continue;
            if (outside++ == 0) first = "instance " + std::to_string(inst.index) + ", output \"" + output + "\"";
            break;
        }
    }
    if (outside == 0) return;
    task.notes.push_back(path + ": " + std::to_string(outside) + " of " + std::to_string(split.size()) +
                         " instances have an output that is not in labels.json (first: " + first + "); kept as references");
}

std::string missing_task_file(const std::string& root, const std::string& benchmark, const std::string& task_name,
                              const LoadOptions& options) {
    const std::string folder = root + "/" + benchmark + "/" + task_name;
    if (!directory_exists(folder)) return folder;
    const bool have_train = file_exists(folder + "/train.json"), have_test = file_exists(folder + "/test.json");
    if (!have_train && (!have_test || !options.allow_missing_train)) return folder + "/train.json";
    if (!have_test && options.require_test_file) return folder + "/test.json";
    return "";
}

Task load_task(const std::string& root, const std::string& benchmark, const std::string& task_name,
               const LoadOptions& options) {
    Task task;
    task.name = task_name;
    task.benchmark = benchmark_from_name(benchmark);
    const std::string folder = root + "/" + benchmark + "/" + task_name;
    if (!directory_exists(folder)) fail(folder, "no such task folder (expected <root>/<benchmark>/<task>)");
    const std::string train_path = folder + "/train.json", dev_path = folder + "/dev.json",
                      test_path = folder + "/test.json", labels_path = folder + "/labels.json";

    bool have_train = file_exists(train_path), have_test = file_exists(test_path);
    if (!have_train && !have_test) fail(folder, "has neither train.json nor test.json (expected at least one)");
    if (have_train) {
        SplitFile train = read_split_file(train_path, task.benchmark, options);
        task.definition = train.definition;
        task.train = std::move(train.instances);
    } else if (!options.allow_missing_train) {
        fail(train_path, "missing (set LoadOptions.allow_missing_train to load the task for evaluation only)");
    } else {
        task.notes.push_back(train_path + " is missing: train is empty");
    }

    if (have_test) {
        SplitFile test = read_split_file(test_path, task.benchmark, options);
        if (!have_train) task.definition = test.definition;
        task.test = std::move(test.instances);
    } else if (options.require_test_file) {
        fail(test_path, "missing (LoadOptions.require_test_file is set; unset it to hold out part of train.json)");
    } else {
        hold_out_test_split(task, options.holdout_every, test_path, train_path);
    }

    if (file_exists(dev_path)) {
        task.dev = read_split_file(dev_path, task.benchmark, options).instances;
    } else {
        // The released dev.json files are byte-identical to test.json (SAPT selects models on test).
        task.dev = task.test;
        task.notes.push_back(dev_path + " is missing: dev = test, as in the released data");
    }
    if (file_exists(labels_path)) {
        task.labels = read_labels_file(labels_path);
        note_outputs_outside_labels(task, task.train, train_path);
        note_outputs_outside_labels(task, task.test, have_test ? test_path : train_path + " (held-out test split)");
        if (file_exists(dev_path)) note_outputs_outside_labels(task, task.dev, dev_path);
    }
    return task;
}
