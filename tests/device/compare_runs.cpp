// compare_runs.cpp — the checks of tests/device/train_emu_vs_cpu.sh on the folders two ./train runs left:
//   compare_runs equal CPU_DIR DEVICE_DIR [REL]   every method's per-step losses within REL relative (default
//                                           1e-4; 1e-5 for 2 MPI ranks against 1 process, tests/mpi), the same
//                                           per-task scores and the same accuracy matrices
//   compare_runs budget DEVICE_DIR          every training step on the device moved only token ids in and a
//                                           few scalars out (log.jsonl's "device" field), the same counts at
//                                           every step of a task after its first; prints the table per method
//   compare_runs matrices DIR_A DIR_B       the report.json matrices and final losses equal (kill + resume)
//   compare_runs answers A.jsonl B.jsonl    ./generate's outputs: the same answers, weights within 1e-4
// Exits 1 with every failure listed. Not here: running ./train (the script does).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using json = nlohmann::json;
namespace fs = std::filesystem;

static int failures = 0;

static void failure(const std::string& what) {
    std::printf("FAIL: %s\n", what.c_str());
    failures++;
}

static std::vector<json> read_log(const std::string& path) {
    std::vector<json> lines;
    std::ifstream in(path);
    if (!in) {
        failure(path + ": cannot be read");
        return lines;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) lines.push_back(json::parse(line));
    }
    return lines;
}

static std::vector<json> events(const std::vector<json>& lines, const std::string& event) {
    std::vector<json> out;
    for (const json& j : lines) {
        if (j.value("event", "") == event) out.push_back(j);
    }
    return out;
}

// The method folders of a run (each with its log.jsonl), by name.
static std::vector<std::string> method_folders(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.is_directory() && fs::exists(entry.path() / "log.jsonl")) names.push_back(entry.path().filename());
    }
    std::sort(names.begin(), names.end());
    return names;
}

static bool close(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::max(std::fabs(a), 1e-2); }

static void compare_losses(const std::string& method, const std::string& cpu_log, const std::string& device_log,
                           double bound, double* worst) {
    const std::vector<json> a = events(read_log(cpu_log), "train_step"), b = events(read_log(device_log), "train_step");
    if (a.size() != b.size()) {
        failure(method + ": " + std::to_string(a.size()) + " training steps on the CPU, " + std::to_string(b.size()) +
                " on the device");
        return;
    }
    for (size_t i = 0; i < a.size(); i++) {
        for (const char* field : {"loss", "kl"}) {
            const double x = a[i][field].get<double>(), y = b[i][field].get<double>();
            *worst = std::max(*worst, std::fabs(x - y) / std::max(std::fabs(x), 1e-2));
            if (!close(x, y, bound)) {
                failure(method + " " + a[i]["task"].get<std::string>() + " step " + std::to_string(a[i]["step"].get<int>()) +
                        ": " + field + " " + std::to_string(x) + " in " + cpu_log + ", " + std::to_string(y) + " in " + device_log);
            }
        }
    }
    const std::vector<json> done_a = events(read_log(cpu_log), "task_done"), done_b = events(read_log(device_log), "task_done");
    if (done_a.size() != done_b.size()) failure(method + ": a different number of finished tasks");
    for (size_t i = 0; i < std::min(done_a.size(), done_b.size()); i++) {
        if (done_a[i]["scores"] != done_b[i]["scores"]) {
            failure(method + " task " + done_a[i]["task"].get<std::string>() + ": scores " + done_a[i]["scores"].dump() +
                    " on the CPU, " + done_b[i]["scores"].dump() + " on the device");
        }
    }
}

// The matrices of a comparison (compare.json) or a report (report.json), by method.
static std::map<std::string, json> matrices(const std::string& dir) {
    std::map<std::string, json> out;
    const std::string compare = dir + "/compare.json", report = dir + "/report.json";
    const std::string path = fs::exists(compare) ? compare : report;
    std::ifstream in(path);
    if (!in) {
        failure(path + ": missing");
        return out;
    }
    const json j = json::parse(in);
    const json& methods = j.at("methods");  // compare.json: a list of rows; report.json: an object by name
    if (methods.is_array()) {
        for (const json& m : methods) out[m.at("method").get<std::string>()] = m.at("matrix");
    } else {
        for (auto it = methods.begin(); it != methods.end(); ++it) out[it.key()] = it.value().at("matrix");
    }
    return out;
}

static void compare_matrices(const std::string& dir_a, const std::string& dir_b) {
    const auto a = matrices(dir_a), b = matrices(dir_b);
    if (a.empty()) failure(dir_a + ": no matrices");
    for (const auto& [method, matrix] : a) {
        auto other = b.find(method);
        if (other == b.end()) {
            failure(method + ": no matrix in " + dir_b);
        } else if (matrix != other->second) {
            failure(method + ": accuracy matrix " + matrix.dump() + " in " + dir_a + ", " + other->second.dump() + " in " + dir_b);
        }
    }
}

static int equal(const std::string& cpu_dir, const std::string& device_dir, double bound) {
    double worst = 0;
    const std::vector<std::string> methods = method_folders(cpu_dir);
    if (methods.empty()) failure(cpu_dir + ": no method folders");
    for (const std::string& m : methods) compare_losses(m, cpu_dir + "/" + m + "/log.jsonl", device_dir + "/" + m + "/log.jsonl", bound, &worst);
    compare_matrices(cpu_dir, device_dir);
    std::printf("%zu methods: per-step losses equal within %.2g relative (bound %.0e); accuracy matrices %s\n",
                methods.size(), worst, bound, failures ? "checked (see failures)" : "identical");
    return failures ? 1 : 0;
}

// A step's traffic: out, a handful of scalars (losses, counts, the gradients' sums of squares). L2P picks each
// example's prompts on the host from the cosines of its query to the pool's keys, computed there in double
// so that ties stay ties: its pool keys (M x C) and queries (B x C) come out twice a step, 10 KB here.
const long long kMaxBytesOutPerStep = 4096, kMaxBytesOutPerStepL2p = 16384;

static int budget(const std::string& device_dir) {
    std::printf("%-30s %9s %9s %9s %9s %6s\n", "per training step (steady)", "copies in", "bytes in", "copies out",
                "bytes out", "syncs");
    for (const std::string& m : method_folders(device_dir)) {
        std::map<std::string, json> first_steady;  // task -> the counts of its second step
        for (const json& step : events(read_log(device_dir + "/" + m + "/log.jsonl"), "train_step")) {
            if (!step.contains("device")) {
                failure(m + ": a training step without its device traffic (was the run on the device?)");
                continue;
            }
            const json& d = step["device"];
            const std::string task = step["task"].get<std::string>();
            const int index = step["step"].get<int>();
            const long long bound = m == "l2p" ? kMaxBytesOutPerStepL2p : kMaxBytesOutPerStep;
            if (d["bytes_out"].get<long long>() > bound) {
                failure(m + " " + task + " step " + std::to_string(index) + ": " + d["bytes_out"].dump() +
                        " bytes copied to the host (expected a few scalars, at most " + std::to_string(bound) + ")");
            }
            if (index < 2) continue;  // the first step of a task allocates and uploads what the task needs
            auto seen = first_steady.find(task);
            if (seen == first_steady.end()) {
                first_steady[task] = d;
                std::printf("%-30s %9lld %9lld %9lld %9lld %6lld\n", (m + " " + task.substr(0, task.size() > 18 ? 18 : task.size())).c_str(),
                            d["copies_in"].get<long long>(), d["bytes_in"].get<long long>(), d["copies_out"].get<long long>(),
                            d["bytes_out"].get<long long>(), d["synchronizations"].get<long long>());
            } else {
                for (const char* field : {"copies_in", "copies_out", "synchronizations"}) {
                    if (seen->second[field] != d[field]) {
                        failure(m + " " + task + " step " + std::to_string(index) + ": " + field + " " + d[field].dump() +
                                ", but " + seen->second[field].dump() + " at the task's second step (expected the same every step)");
                    }
                }
            }
        }
    }
    return failures ? 1 : 0;
}

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "equal" && (argc == 4 || argc == 5)) return equal(argv[2], argv[3], argc == 5 ? std::atof(argv[4]) : 1e-4);
    if (mode == "budget" && argc == 3) return budget(argv[2]);
    if (mode == "matrices" && argc == 4) {
        compare_matrices(argv[2], argv[3]);
        for (const std::string& m : method_folders(argv[2])) {
            const auto a = events(read_log(std::string(argv[2]) + "/" + m + "/log.jsonl"), "task_done");
            const auto b = events(read_log(std::string(argv[3]) + "/" + m + "/log.jsonl"), "task_done");
            if (a.empty() || b.empty() || a.back()["loss"] != b.back()["loss"] || a.back()["scores"] != b.back()["scores"]) {
                failure(m + ": the last task's loss or scores differ between " + argv[2] + " and " + argv[3]);
            }
        }
        if (!failures) std::printf("matrices and final losses identical: %s, %s\n", argv[2], argv[3]);
        return failures ? 1 : 0;
    }
    if (mode == "answers" && argc == 4) {
        const std::vector<json> a = read_log(argv[2]), b = read_log(argv[3]);
        if (a.empty() || a.size() != b.size()) failure("answers: " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " lines");
        for (size_t i = 0; i < std::min(a.size(), b.size()); i++) {
            if (a[i]["answer"] != b[i]["answer"]) failure("line " + std::to_string(i + 1) + ": answer " + a[i]["answer"].dump() + " vs " + b[i]["answer"].dump());
            for (auto it = a[i]["weights"].begin(); it != a[i]["weights"].end(); ++it) {
                const double x = it.value().get<double>(), y = b[i]["weights"].value(it.key(), -1.0);
                if (std::fabs(x - y) > 1e-4) failure("line " + std::to_string(i + 1) + ": weight of " + it.key() + " " + std::to_string(x) + " vs " + std::to_string(y));
            }
        }
        if (!failures) std::printf("./generate --run: %zu answers identical on the CPU and the device, weights within 1e-4\n", a.size());
        return failures ? 1 : 0;
    }
    std::fprintf(stderr, "usage: compare_runs equal CPU_DIR DEVICE_DIR | budget DEVICE_DIR | matrices DIR_A DIR_B | answers A B\n");
    return 2;
}
