// export.cpp — the `export` command: a trained run's LoRA blocks as Hugging Face PEFT adapter folders, one
// per finished task (adapter_config.json + adapter_model.safetensors, loadable with PeftModel.from_pretrained
// on the run's base model), plus sals.safetensors / sals.json with SAPT's keys and projector and
// adapters.json with the task order; `./train --import-adapters DIR` reads the folder back.
// Not here: the formats themselves (sapt/peft.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "sapt/peft.h"
#include "sapt/run_folder.h"

static const char* kUsage =
    "usage: ./export --run runs/NAME --to DIR [--method NAME] [--base-model NAME_OR_PATH]\n"
    "  --run DIR          a ./train run folder\n"
    "  --to DIR           where the adapters go: DIR/<task>/ per finished task (DIR/<method>/ for a method\n"
    "                     with one block), DIR/sals.safetensors + sals.json (SAPT), DIR/adapters.json\n"
    "  --method NAME      which method of the run (default: sapt, or the run's only method)\n"
    "  --base-model NAME  base_model_name_or_path in adapter_config.json (default: the run's model folder)\n";

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {  // --help anywhere wins, even where a flag's value was expected
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("%s", kUsage);
            return 0;
        }
    }
    std::string run_dir, to, method, base_model;
    try {
        for (int i = 1; i < argc; i++) {
            const std::string flag = argv[i];
            if (i + 1 >= argc) fail("export", "flag " + flag + " needs a value\n" + kUsage);
            const std::string value = argv[++i];
            if (flag == "--run") run_dir = value;
            else if (flag == "--to") to = value;
            else if (flag == "--method") method = value;
            else if (flag == "--base-model") base_model = value;
            else fail("export", "unknown flag " + flag + "\n" + kUsage);
        }
        if (run_dir.empty() || to.empty()) fail("export", std::string("--run and --to are required\n") + kUsage);
        const LoadedRun run = load_run(run_dir);
        const RunMethod loaded = load_run_method(run, choose_run_method(run_dir, method));
        if (base_model.empty()) base_model = run.settings.model_dir;
        const std::vector<std::string> folders = export_run_method(run, loaded, to, base_model);
        std::printf("%s (%s): %zu finished tasks, LoRA r %d alpha %g\n", run_dir.c_str(), loaded.method.c_str(),
                    loaded.tasks.size(), loaded.state.options.lora_rank, loaded.state.options.lora_alpha);
        for (const std::string& f : folders) std::printf("  %s/adapter_config.json + adapter_model.safetensors\n", f.c_str());
        if (loaded.state.options.selection) std::printf("  %s/sals.safetensors + sals.json (keys, projector)\n", to.c_str());
        std::printf("  %s/adapters.json (task order)\n", to.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
