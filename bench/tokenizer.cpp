// bench/tokenizer.cpp — encoding throughput of our tokenizer next to Debian's spm_encode (sentencepiece
// 0.1.97) on the same text: every input and Definition string of CL_Benchmark (train and test, both
// benchmarks), one line per newline-separated line, for T5's and LLaMA-2's models. spm_encode runs
// single-threaded on a file of those lines; we report our single-thread in-process encode, our
// ./tokenize program on the same file (same I/O as spm_encode) and an OpenMP run over lines.
// Single-thread figures use CPU time (user + sys), not wall time: the machines we share are often
// oversubscribed, which stretches wall time for both sides unevenly. The parallel figure is wall time.
// usage: build/bench/tokenizer [--shared DIR] [--tokenize ./tokenize]   (records via bench/record.h)
#include "bench/record.h"
#include "engine/error.h"
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <omp.h>
#include <sstream>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> benchmark_lines(const std::string& shared) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(shared + "/data/CL_Benchmark")) {
        if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> lines;
    auto add = [&](const std::string& text) {
        std::istringstream stream(text);
        std::string line;
        while (std::getline(stream, line)) lines.push_back(line);
        if (!text.empty() && text.back() == '\n') lines.push_back("");
        if (text.empty()) lines.push_back("");
    };
    for (const std::string& path : files) {
        std::ifstream file(path);
        const nlohmann::json task = nlohmann::json::parse(file);
        if (!task.is_object() || !task.contains("Instances")) continue;
        for (const auto& definition : task["Definition"]) add(definition.get<std::string>());
        for (const auto& instance : task["Instances"]) add(instance["input"].get<std::string>());
    }
    return lines;
}

double children_cpu_seconds() {
    rusage usage;
    getrusage(RUSAGE_CHILDREN, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + 1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double thread_cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct CommandTime {
    double cpu_seconds;   // user + sys of the command and its children
    double wall_seconds;
};

CommandTime time_command(const std::string& command) {
    const double cpu_start = children_cpu_seconds(), wall_start = now_seconds();
    if (std::system(command.c_str()) != 0) fail("bench/tokenizer", "command failed: " + command);
    return {children_cpu_seconds() - cpu_start, now_seconds() - wall_start};
}

size_t count_ids_in_file(const std::string& path) {
    std::ifstream file(path);
    size_t count = 0;
    std::string line;
    while (std::getline(file, line)) {
        std::istringstream fields(line);
        std::string field;
        while (fields >> field) ++count;
    }
    return count;
}

int run(int argc, char** argv) {
    std::string shared = std::getenv("SAPT_SHARED") ? std::getenv("SAPT_SHARED") : "../shared";
    std::string tokenize_program = "./tokenize";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        if (arg == "--shared") shared = argv[i + 1];
        else if (arg == "--tokenize") tokenize_program = argv[i + 1];
        else fail("bench/tokenizer", "unknown argument " + arg + " (expected --shared, --tokenize)");
    }
    const std::vector<std::string> lines = benchmark_lines(shared);
    char dir_template[] = "/tmp/sapt_bench_tokenizer_XXXXXX";
    if (!mkdtemp(dir_template)) fail("bench/tokenizer", "cannot create a temporary directory");
    const std::string dir = dir_template, text_path = dir + "/lines.txt";
    size_t bytes = 0;
    {
        std::ofstream text(text_path, std::ios::binary);
        for (const std::string& line : lines) {
            text << line << '\n';
            bytes += line.size() + 1;
        }
    }
    const double megabytes = double(bytes) / 1e6;
    std::printf("CL_Benchmark inputs + definitions: %zu lines, %.1f MB\n", lines.size(), megabytes);
    std::printf("%-8s %12s %12s %12s %8s | %12s %14s\n", "model", "spm_encode", "ours 1-thr", "ours CLI", "speedup",
                "spm_encode", "ours N-thr");
    std::printf("%-8s %12s %12s %12s %8s | %12s %14s\n", "", "(CPU time)", "(CPU time)", "(CPU time)", "1-thr", "(wall time)", "(wall time)");

    const std::pair<std::string, std::string> models[] = {{"t5", "tokenizers/t5/spiece.model"},
                                                         {"llama2", "tokenizers/llama2/tokenizer.model"}};
    for (const auto& [name, relative] : models) {
        const std::string model = shared + "/" + relative;
        const std::string spm_out = dir + "/spm.ids", our_out = dir + "/ours.ids";
        const CommandTime spm_time = time_command("spm_encode --model " + model + " --output_format=id < " + text_path + " > " + spm_out);
        const size_t spm_ids = count_ids_in_file(spm_out);

        const Tokenizer tokenizer = load_tokenizer(model);
        std::vector<int> ids;
        size_t our_ids = 0;
        const double cpu_start = thread_cpu_seconds();
        for (const std::string& line : lines) {
            ids.clear();
            encode(tokenizer, line, ids);
            our_ids += ids.size();
        }
        const double single_seconds = thread_cpu_seconds() - cpu_start;
        if (our_ids != spm_ids) fail("bench/tokenizer", name + ": id count differs from spm_encode (expected " + std::to_string(spm_ids) + ", got " + std::to_string(our_ids) + ")");

        const int threads = omp_get_max_threads();
        const double start = now_seconds();
#pragma omp parallel for schedule(dynamic, 256)
        for (size_t i = 0; i < lines.size(); ++i) {
            thread_local std::vector<int> line_ids;
            line_ids.clear();
            encode(tokenizer, lines[i], line_ids);
        }
        const double parallel_seconds = now_seconds() - start;

        double cli_seconds = 0;
        if (access(tokenize_program.c_str(), X_OK) == 0) {
            cli_seconds = time_command(tokenize_program + " --model " + model + " --ids < " + text_path + " > " + our_out).cpu_seconds;
            if (count_ids_in_file(our_out) != spm_ids) fail("bench/tokenizer", name + ": ./tokenize id count differs from spm_encode");
        }
        const double spm_rate = megabytes / spm_time.cpu_seconds, spm_wall_rate = megabytes / spm_time.wall_seconds;
        const double single_rate = megabytes / single_seconds;
        const double parallel_rate = megabytes / parallel_seconds, cli_rate = cli_seconds > 0 ? megabytes / cli_seconds : 0;
        std::printf("%-8s %7.1f MB/s %7.1f MB/s %7.1f MB/s %7.2fx | %7.1f MB/s %7.1f MB/s(%d)\n", name.c_str(), spm_rate,
                    single_rate, cli_rate, single_rate / spm_rate, spm_wall_rate, parallel_rate, threads);
        const std::string peer = "spm_encode 0.1.97 (single thread, file in, ids out; CPU time)";
        append_bench_record("tokenizer_encode_" + name, single_rate, spm_rate, peer, "MB/s", 1);
        if (cli_seconds > 0) append_bench_record("tokenizer_cli_encode_" + name, cli_rate, spm_rate, peer, "MB/s", 1);
        append_bench_record("tokenizer_encode_" + name + "_parallel", parallel_rate, spm_wall_rate,
                            "spm_encode 0.1.97 (single thread, file in, ids out; wall time)", "MB/s", threads);
    }
    std::filesystem::remove_all(dir);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const sapt_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
