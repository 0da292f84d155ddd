// reliability_util.h — what the reliability tests (test_reliability*.cpp) share: starting the built ./train in a
// scratch folder of its own (its runs/cache and runs/builtin_data stay there), waiting for it, reading its
// output, and a small built-in run whose backbone is pretrained in a few seconds.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/fileio.h"

// The folder of the built programs: SAPT_PROGRAM_DIR, else the repo root (where the suite runs), as an
// absolute path because the programs run in their own folders.
inline std::string program_path(const std::string& name) {
    const char* dir = std::getenv("SAPT_PROGRAM_DIR");
    return std::filesystem::absolute(std::filesystem::path(dir && *dir ? dir : ".") / name).string();
}

// /tmp/sapt_reliability_<pid>/<name>, created. Its runs/cache is a link to one cache for the whole test
// process, so the built-in backbone is pretrained once (shared_cache = false: a cache of its own).
inline std::string reliability_dir(const std::string& name, bool shared_cache = true) {
    const std::string root = "/tmp/sapt_reliability_" + std::to_string(getpid());
    static const struct RemoveAtExit {  // the scratch folders go when the test process ends
        std::string root;
        ~RemoveAtExit() {
            std::error_code ignored;
            std::filesystem::remove_all(root, ignored);
        }
    } remove_at_exit{root};
    const std::string dir = root + "/" + name;
    std::filesystem::create_directories(dir + "/runs");
    if (shared_cache && !std::filesystem::exists(dir + "/runs/cache")) {
        std::filesystem::create_directories(root + "/shared_cache");
        std::filesystem::create_directory_symlink(root + "/shared_cache", dir + "/runs/cache");
    }
    return dir;
}

// A small built-in run: two tasks of 48 instances, 3 epochs of 6 steps at lr 0.01 on a backbone pretrained
// for 40 steps (6 s, once), SAPT only, one thread: about 2 s of training, and scores that are not all chance
// (a[0][0] 90, a[1][0] 0, a[1][1] 40). FWT's single-task runs come with it (the built-in run does them).
inline std::vector<std::string> small_builtin_args(const std::string& out) {
    return {"--out", out, "--tasks", "sentiment,topic", "--method", "sapt", "--max-train-per-task", "48",
            "--max-test-per-task", "10", "--pretrain-steps", "40", "--epochs", "3", "--generator-steps", "6",
            "--batch-size", "8", "--lr", "0.01", "--threads", "1"};
}

// A started program: its pid and the file that gets its stdout and stderr.
struct Started {
    pid_t pid = -1;
    std::string output_path;
};

// Starts SAPT_PROGRAM_DIR/<program> with `args` in folder `cwd`, stdout and stderr to `output_path`.
inline Started start_program(const std::string& program, const std::vector<std::string>& args, const std::string& cwd,
                             const std::string& output_path) {
    const std::string path = program_path(program);
    std::vector<std::string> words = {path};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(&w[0]);
    argv.push_back(nullptr);
    Started started;
    started.output_path = output_path;
    started.pid = fork();
    if (started.pid < 0) fail(path, "fork failed");
    if (started.pid == 0) {  // the child: only async-signal-safe calls until exec
        const int out = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || ::chdir(cwd.c_str()) != 0) _exit(126);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execv(path.c_str(), argv.data());
        _exit(127);
    }
    return started;
}

// The exit status as a shell reports it: the code, or 128 + the signal that ended the process.
inline int wait_program(const Started& started) {
    int status = 0;
    while (::waitpid(started.pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// True when the process ended by a signal (not by exiting with 128 + signal itself).
inline bool ended_by_signal(const Started& started, int* signal_number) {
    int status = 0;
    while (::waitpid(started.pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    if (WIFSIGNALED(status)) *signal_number = WTERMSIG(status);
    return WIFSIGNALED(status);
}

// Runs the program to its end; returns the status (wait_program) and leaves its output in *output.
inline int run_program(const std::string& program, const std::vector<std::string>& args, const std::string& cwd,
                       std::string* output) {
    const std::string output_path = cwd + "/output_" + std::to_string(std::rand()) + ".txt";
    const int status = wait_program(start_program(program, args, cwd, output_path));
    *output = read_file(output_path);
    std::filesystem::remove(output_path);
    return status;
}

inline std::string file_or_empty(const std::string& path) {
    std::error_code error;
    return std::filesystem::exists(path, error) ? read_file(path) : "";
}

// Waits (polling every 5 ms, at most `seconds`) until `condition` holds; false on time-out.
template <typename Condition>
bool wait_until(Condition condition, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
}

// The matrices and selection weights of report.json per method, and the single-task scores (the wall times
// are left out: they differ run to run).
inline nlohmann::json report_matrices(const std::string& run_dir) {
    const nlohmann::json report = nlohmann::json::parse(read_file(run_dir + "/report.json"));
    nlohmann::json matrices = nlohmann::json::object();
    for (const auto& [method, run] : report.at("methods").items()) {
        matrices[method] = {run.at("matrix"), run.at("selection_weights")};
    }
    matrices["single"] = report.at("single");
    return matrices;
}

// Every file under `dir` whose name ends in ".tmp" (what a torn write would leave).
// (A running ./train may create and rename files meanwhile: a vanished entry ends nothing.)
inline std::vector<std::string> temporaries_under(const std::string& dir) {
    std::vector<std::string> found;
    std::error_code error;
    std::filesystem::recursive_directory_iterator it(dir, error), end;
    for (; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) found.push_back(it->path().string());
    }
    return found;
}

// The uninterrupted small built-in run's matrices (with `extra` arguments; each run once per test process, in
// its own folder): what every interrupted, resumed, concurrent or full-disk run of the same settings must end with.
inline nlohmann::json reference_matrices(const std::vector<std::string>& extra = {}) {
    static std::map<std::vector<std::string>, nlohmann::json> done;
    auto found = done.find(extra);
    if (found != done.end()) return found->second;
    const std::string dir = reliability_dir("reference");
    const std::string out = "runs/whole" + std::to_string(done.size());
    std::vector<std::string> args = small_builtin_args(out);
    args.insert(args.end(), extra.begin(), extra.end());
    std::string output;
    const int status = run_program("train", args, dir, &output);
    if (status != 0) fail(dir, "the reference run failed (status " + std::to_string(status) + "):\n" + output);
    return done[extra] = report_matrices(dir + "/" + out);
}

// file name -> bytes of every regular file directly in `dir`.
inline std::map<std::string, std::string> snapshot_of(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file()) files[entry.path().filename().string()] = read_file(entry.path().string());
    }
    return files;
}
