// run_eval.cpp — scoring a trained run on seen and unseen tasks. See run_eval.h.
#include "sapt/run_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "sapt/evaluate.h"
#include "sapt/run_folder.h"

static bool contains(const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

EvalOnlyResult evaluate_run_folder(const EvalOnlyOptions& options) {
    if (options.tasks.empty()) fail("--tasks", "no task to evaluate (expected a comma-separated list)");
    EvalOnlyResult result;
    result.options = options;
    LoadedRun run = load_run(options.run_dir);
    result.benchmark = options.benchmark.empty() ? run.settings.benchmark : options.benchmark;
    const Benchmark benchmark = benchmark_from_name(result.benchmark);
    result.metric = benchmark == Benchmark::long_sequence ? "exact match (%)" : "ROUGE-L (%)";
    LoadOptions load;
    load.compat_official = run.settings.compat_official;
    std::vector<Task> tasks;  // every task is read before anything is scored
    for (const std::string& name : options.tasks) {
        Task task = load_task(options.data_root, result.benchmark, name, load);
        if (options.max_test > 0 && (int)task.test.size() > options.max_test) task.test.resize((size_t)options.max_test);
        if (task.test.empty()) fail(options.data_root + "/" + result.benchmark + "/" + name, "no test instances");
        result.test_sizes.push_back((int)task.test.size());
        tasks.push_back(task);
    }
    std::vector<std::string> methods = options.methods;
    const bool chosen = !methods.empty();
    if (!chosen) methods = run_methods(options.run_dir);
    if (methods.empty()) fail(options.run_dir, "no method folder with a checkpoint.safetensors (expected a run folder of ./train)");
    for (const std::string& m : methods) {
        RunMethod method;
        try {
            method = load_run_method(run, m);
        } catch (const sapt_error& e) {
            if (chosen) throw;  // asked for by name: its failure is the answer
            result.skipped.push_back(m + ": " + e.what());
            continue;
        }
        EvalOnlyRow row;
        row.method = m;
        row.trained = method.tasks;
        for (const Task& task : tasks) {
            const EvalResult eval = evaluate_task(run.model, method.state, run.tokenizer, benchmark, task.test,
                                                  run.settings.batching, run.settings.eval);
            row.scores.push_back(eval.score);
            row.weights.push_back(eval.task_weights);
        }
        result.rows.push_back(row);
    }
    if (result.rows.empty()) {
        std::string why;
        for (const std::string& s : result.skipped) why += "\n  " + s;
        fail(options.run_dir, "no method could be loaded:" + why);
    }
    return result;
}

// The mean of the scores of the tasks the row trained on (seen) or not; NaN when there are none.
static double mean_of(const EvalOnlyResult& r, const EvalOnlyRow& row, bool seen) {
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < r.options.tasks.size(); i++) {
        if (contains(row.trained, r.options.tasks[i]) == seen) sum += row.scores[i], n++;
    }
    return n ? sum / n : NAN;
}

static std::string cell(double v) {
    if (std::isnan(v)) return "—";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

std::string eval_only_markdown(const EvalOnlyResult& r) {
    std::string md = "# Evaluation of " + r.options.run_dir + "\n\n";
    md += "Tasks of " + r.options.data_root + " (" + r.benchmark + "), scored with " + r.metric +
          " by greedy decoding; each input routed with no task id. A task marked * was not trained on by that "
          "method (unseen).\n\n| method |";
    for (size_t i = 0; i < r.options.tasks.size(); i++) md += " " + r.options.tasks[i] + " (" + std::to_string(r.test_sizes[i]) + ") |";
    md += " seen mean | unseen mean |\n|---|";
    for (size_t i = 0; i < r.options.tasks.size() + 2; i++) md += "---:|";
    md += "\n";
    for (const EvalOnlyRow& row : r.rows) {
        md += "| " + row.method + " |";
        for (size_t i = 0; i < r.options.tasks.size(); i++) {
            md += " " + cell(row.scores[i]) + (contains(row.trained, r.options.tasks[i]) ? "" : "*") + " |";
        }
        md += " " + cell(mean_of(r, row, true)) + " | " + cell(mean_of(r, row, false)) + " |\n";
    }
    for (const EvalOnlyRow& row : r.rows) {
        if (row.weights.empty() || row.weights[0].empty()) continue;
        md += "\nMean selection weights of " + row.method + " (rows: evaluated tasks; columns: the trained tasks' blocks)\n\n| task |";
        for (const std::string& t : row.trained) md += " " + t + " |";
        md += "\n|---|";
        for (size_t k = 0; k < row.trained.size(); k++) md += "---:|";
        md += "\n";
        for (size_t i = 0; i < r.options.tasks.size(); i++) {
            md += "| " + r.options.tasks[i] + (contains(row.trained, r.options.tasks[i]) ? "" : "*") + " |";
            for (double w : row.weights[i]) {
                char buf[32];
                std::snprintf(buf, sizeof buf, " %.3f |", w);
                md += buf;
            }
            md += "\n";
        }
    }
    if (!r.skipped.empty()) {
        md += "\nNot evaluated:\n";
        for (const std::string& s : r.skipped) md += "- " + s + "\n";
    }
    return md;
}

static nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

std::string eval_only_json(const EvalOnlyResult& r) {
    nlohmann::ordered_json j;
    j["run"] = r.options.run_dir;
    j["data"] = r.options.data_root;
    j["benchmark"] = r.benchmark;
    j["metric"] = r.metric;
    j["tasks"] = r.options.tasks;
    j["test_sizes"] = r.test_sizes;
    nlohmann::ordered_json methods = nlohmann::ordered_json::array();
    for (const EvalOnlyRow& row : r.rows) {
        nlohmann::ordered_json m;
        m["method"] = row.method;
        m["trained_on"] = row.trained;
        nlohmann::ordered_json scores, seen, weights;
        for (size_t i = 0; i < r.options.tasks.size(); i++) {
            const std::string& t = r.options.tasks[i];
            scores[t] = row.scores[i];
            seen[t] = contains(row.trained, t);
            if (!row.weights[i].empty()) {
                nlohmann::ordered_json w;
                for (size_t k = 0; k < row.trained.size() && k < row.weights[i].size(); k++) w[row.trained[k]] = row.weights[i][k];
                weights[t] = w;
            }
        }
        m["scores"] = scores;
        m["seen"] = seen;
        m["mean_seen"] = number_or_null(mean_of(r, row, true));
        m["mean_unseen"] = number_or_null(mean_of(r, row, false));
        if (!weights.empty()) m["selection_weights"] = weights;
        methods.push_back(m);
    }
    j["methods"] = methods;
    j["skipped"] = r.skipped;
    return j.dump(2) + "\n";
}

void write_eval_only(const EvalOnlyResult& result) {
    const std::string md = eval_only_markdown(result), json = eval_only_json(result);
    atomic_write_file(result.options.run_dir + "/eval.json", json);
    atomic_write_file(result.options.run_dir + "/eval.md", md);
}


int train_eval_only(const std::map<std::string, std::string>& args) {
    auto get = [&](const std::string& name) {
        auto it = args.find(name);
        return it == args.end() ? std::string() : it->second;
    };
    for (const char* needed : {"run", "data", "tasks"}) {
        if (get(needed).empty()) fail(std::string("--") + needed, "--eval-only needs --run DIR --data DIR --tasks LIST");
    }
    EvalOnlyOptions o;
    o.run_dir = get("run");
    o.data_root = get("data");
    o.benchmark = get("benchmark");
    o.tasks = split_commas(get("tasks"));
    o.methods = split_commas(get("method"));
    const std::string cap = get("max-test-per-task");
    if (!cap.empty()) {
        char* end = nullptr;
        const long n = std::strtol(cap.c_str(), &end, 10);
        if (*end != '\0' || n < 0) fail("--max-test-per-task", "expected an integer >= 0, got '" + cap + "'");
        o.max_test = (int)n;
    }
    const EvalOnlyResult result = evaluate_run_folder(o);
    write_eval_only(result);
    std::printf("%s\neval: %s/eval.md (+ eval.json)\n", eval_only_markdown(result).c_str(), o.run_dir.c_str());
    return 0;
}
