// models_memory.cpp (benchmark) — resident memory of loading a checkpoint: the loader maps safetensors
// files and hands out views, so loading should add almost nothing and a forward pass should add the
// weights only as file-backed pages (shared with the page cache, dropped under pressure), never as
// private copies. Writes a tiny and a T5-small-shaped (d_model 512, 6+6 layers) random checkpoint with
// safetensors_save under $TMPDIR (default /tmp), then reports VmRSS / RssAnon / RssFile from
// /proc/self/status after loading and after one forward. Records the anonymous (copied) growth of the
// medium load next to the file size a copying loader would add.
// Usage: build/bench/models_memory   (run from the repo root)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/models_random.h"
#include "bench/record.h"
#include "engine/autograd.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"

namespace {

struct Resident {
    double rss_mib = 0, anon_mib = 0, file_mib = 0;
};

Resident resident_now() {
    Resident r;
    std::ifstream status("/proc/self/status");
    std::string key;
    double kib;
    while (status >> key) {
        if (key == "VmRSS:" && status >> kib) r.rss_mib = kib / 1024;
        if (key == "RssAnon:" && status >> kib) r.anon_mib = kib / 1024;
        if (key == "RssFile:" && status >> kib) r.file_mib = kib / 1024;
    }
    return r;
}

std::string config_json(const T5Config& c) {
    return "{\"model_type\":\"t5\",\"d_model\":" + std::to_string(c.d_model) + ",\"d_kv\":" + std::to_string(c.d_kv) +
           ",\"d_ff\":" + std::to_string(c.d_ff) + ",\"num_heads\":" + std::to_string(c.num_heads) +
           ",\"num_layers\":" + std::to_string(c.num_layers) + ",\"vocab_size\":" + std::to_string(c.vocab_size) +
           ",\"feed_forward_proj\":\"relu\",\"tie_word_embeddings\":true,\"dropout_rate\":0.0}";
}

// Writes the checkpoint in a child process, so that building the random weights leaves no trace in this
// process's resident memory.
void write_checkpoint(const std::string& dir, const T5Config& c) {
    mkdir(dir.c_str(), 0755);
    pid_t child = fork();
    if (child == 0) {
        WeightMap weights = bench_t5_weights(c, 3);
        std::vector<std::pair<std::string, Tensor>> list(weights.begin(), weights.end());
        safetensors_save(dir + "/model.safetensors", list);
        atomic_write_file(dir + "/config.json", config_json(c));
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "models_memory: writing %s failed\n", dir.c_str());
        std::exit(1);
    }
}

double file_mib(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? st.st_size / 1048576.0 : 0.0;
}

// Loads, reports, runs one forward, reports. Returns the anonymous-memory growth of the load (MiB).
double measure(const std::string& label, const std::string& dir) {
    double size = file_mib(dir + "/model.safetensors");
    Resident before = resident_now();
    Model model = load_pretrained_model(dir);
    Resident loaded = resident_now();
    {
        NoGradScope no_grad;
        Tensor ids = tensor_from_i32({1, 8}, {5, 6, 7, 8, 9, 10, 11, 1});
        Tensor mask = tensor_empty({1, 8}, DType::U8);
        for (int i = 0; i < 8; i++) mask.u8()[i] = 1;
        T5EncoderOutput encoded = t5_encode(model.t5, ids, mask, nullptr, T5RunOptions{});
        t5_decode(model.t5, tensor_from_i32({1, 1}, {0}), encoded, nullptr, T5RunOptions{});
    }
    Resident used = resident_now();
    std::printf(
        "%-8s file %8.1f MiB | after load: RSS +%7.1f (anon +%6.1f, file +%7.1f) | after a forward: "
        "RSS +%7.1f (anon +%6.1f, file +%7.1f) MiB\n",
        label.c_str(), size, loaded.rss_mib - before.rss_mib, loaded.anon_mib - before.anon_mib,
        loaded.file_mib - before.file_mib, used.rss_mib - before.rss_mib, used.anon_mib - before.anon_mib,
        used.file_mib - before.file_mib);
    return loaded.anon_mib - before.anon_mib;
}

}  // namespace

int main() {
    const char* tmp = std::getenv("TMPDIR");
    std::string root = std::string(tmp && *tmp ? tmp : "/tmp") + "/sapt_bench_models";
    mkdir(root.c_str(), 0755);
    T5Config tiny = bench_t5_config(64, 2, 4, 16, 128, 1000);
    T5Config medium = bench_t5_config(512, 6, 8, 64, 2048, 32128);
    write_checkpoint(root + "/tiny", tiny);
    write_checkpoint(root + "/medium", medium);
    std::printf("resident memory of loading a random T5 checkpoint (mmap, no copy of F32 weights)\n");
    measure("tiny", root + "/tiny");
    double medium_anon = measure("medium", root + "/medium");
    double medium_size = file_mib(root + "/medium/model.safetensors");
    // Floor at 0.1 MiB so that a load that copies nothing still gives a finite ratio.
    double ours = std::max(medium_anon, 0.1);
    double ratio = append_bench_record("t5_small_load_private_memory", ours, medium_size,
                                       "a loader that copies the weights (file size)", "MiB", 1);
    std::printf("medium: private memory added by loading %.1f MiB vs %.1f MiB for a copying loader (ratio %.1f)\n",
                medium_anon, medium_size, ratio);
    return 0;
}
