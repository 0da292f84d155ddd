// generate.cpp — the `generate` command. With --run it asks a trained continual model: the run folder's
// backbone, tokenizer and every finished task's PET block, key and projector, each input routed by SALS
// with no task id; it prints the answer and a table of the selection weights per task, or answers a JSONL
// file into another (written whole or not at all). With --model it decodes from a bare checkpoint (T5
// answers, LLaMA continues the prompt). Not here: training, beam search.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/error.h"
#include "engine/fileio.h"
#include "models/generate.h"
#include "models/model_device.h"
#include "sapt/ask.h"
#include "sapt/run_folder.h"
#include "sapt/sapt_device.h"
#include "tokenizer/tokenizer.h"

static const char* kUsage =
    "usage: ./generate --run runs/NAME (--prompt TEXT | --input F.jsonl --output F.jsonl) [options]\n"
    "       ./generate --model PATH --tokenizer FILE --prompt TEXT [options]\n"
    "  --run DIR             a ./train run folder: its backbone, tokenizer and every finished task's block,\n"
    "                        key and projector; each input is routed by SALS, with no task id\n"
    "  --method NAME         which method folder of the run (default: sapt, or the run's only method)\n"
    "  --prompt TEXT         one input; the answer and its selection weights are printed\n"
    "  --definition TEXT     the task instruction the training template puts before --prompt (optional)\n"
    "  --input F --output F  a JSONL file of {\"input\": ..., \"definition\": ...} lines, answered in batches;\n"
    "                        each output line: input, answer and the selection weight of every task\n"
    "  --raw                 pass the text as is (default: the run's training template)\n"
    "  --max-new-tokens N    (default: the run's evaluation length; 50 with --model)\n"
    "  --temperature T       0 = greedy (default); > 0 samples, with --top-k K, --top-p P, --seed S\n"
    "  --batch-size B        inputs per batch (default 16)\n"
    "  --device cpu|cuda     where to run (default cpu)\n"
    "  --threads N           CPU threads\n"
    "  --model PATH          a Hugging Face checkpoint directory (T5 or LLaMA) or a llama2.c .bin file\n"
    "  --tokenizer FILE      the SentencePiece .model of the checkpoint\n"
    "  --precision f32|bf16  bf16: weights stored in bf16 and multiplied as bf16 with f32 sums (--model only)\n"
    "  --help\n";

struct GenerateArgs {
    std::string run_dir, method, prompt, definition, input_path, output_path;
    std::string model_path, tokenizer_path, precision = "f32", device = "cpu";
    bool has_prompt = false, raw = false;
    int max_new_tokens = -1;  // -1: the run's (or 50)
    int batch_size = 16;
    AskOptions ask;
};

static long parse_count(const std::string& flag, const std::string& value, long min_value) {
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < min_value || n > 1000000) {
        fail("generate", flag + " expects a count >= " + std::to_string(min_value) + " (got \"" + value + "\")");
    }
    return n;
}

static float parse_number(const std::string& flag, const std::string& value, float min_value, float max_value) {
    char* end = nullptr;
    const float v = std::strtof(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(v >= min_value && v <= max_value)) {
        fail("generate", flag + " expects a number in [" + std::to_string(min_value) + ", " + std::to_string(max_value) +
                             "] (got \"" + value + "\")");
    }
    return v;
}

static GenerateArgs parse_args(int argc, char** argv) {
    GenerateArgs args;
    bool sampling_asked = false, temperature_given = false;
    for (int i = 1; i < argc; i++) {
        const std::string flag = argv[i];
        if (flag == "--raw") {
            args.raw = true;
            continue;
        }
        if (i + 1 >= argc) fail("generate", "flag " + flag + " needs a value\n" + kUsage);
        const std::string value = argv[++i];
        if (flag == "--run") {
            args.run_dir = value;
        } else if (flag == "--method") {
            args.method = value;
        } else if (flag == "--model") {
            args.model_path = value;
        } else if (flag == "--tokenizer") {
            args.tokenizer_path = value;
        } else if (flag == "--prompt") {
            args.prompt = value;
            args.has_prompt = true;
        } else if (flag == "--definition") {
            args.definition = value;
        } else if (flag == "--input") {
            args.input_path = value;
        } else if (flag == "--output") {
            args.output_path = value;
        } else if (flag == "--precision") {
            args.precision = value;
        } else if (flag == "--device") {
            args.device = value;
        } else if (flag == "--threads") {
            omp_set_num_threads((int)parse_count(flag, value, 1));
        } else if (flag == "--max-new-tokens") {
            args.max_new_tokens = (int)parse_count(flag, value, 0);
        } else if (flag == "--batch-size") {
            args.batch_size = (int)parse_count(flag, value, 1);
        } else if (flag == "--temperature") {
            args.ask.temperature = parse_number(flag, value, 0.0f, 100.0f);
            temperature_given = true;
        } else if (flag == "--top-k") {
            args.ask.top_k = (int)parse_count(flag, value, 0);
            sampling_asked = true;
        } else if (flag == "--top-p") {
            args.ask.top_p = parse_number(flag, value, 1e-6f, 1.0f);
            sampling_asked = true;
        } else if (flag == "--seed") {
            args.ask.seed = (uint64_t)parse_count(flag, value, 0);
        } else {
            fail("generate", "unknown flag " + flag + "\n" + kUsage);
        }
    }
    if (sampling_asked && !temperature_given) args.ask.temperature = 1.0f;  // --top-k / --top-p alone sample at T 1
    const bool has_run = !args.run_dir.empty(), has_file = !args.input_path.empty() || !args.output_path.empty();
    if (!has_run && args.model_path.empty()) {
        fail("generate", std::string("--model, --tokenizer and --prompt are required (or --run with --prompt or "
                                     "--input/--output)\n") + kUsage);
    }
    if (has_run && !args.model_path.empty()) fail("generate", "give either --run or --model, not both");
    if (has_file && (args.input_path.empty() || args.output_path.empty())) {
        fail("generate", "--input and --output go together");
    }
    if (has_file && !has_run) fail("generate", "--input / --output need --run");
    if (args.has_prompt == has_file) fail("generate", std::string("give either --prompt or --input/--output\n") + kUsage);
    if (!has_run && args.tokenizer_path.empty()) fail("generate", std::string("--model needs --tokenizer\n") + kUsage);
    check_precision_name(args.precision, "--precision");
    return args;
}

// The bare-checkpoint mode: one prompt, no adapters.
static void generate_from_model(const GenerateArgs& args, Device device) {
    Model model = load_pretrained_model(args.model_path);
    model_apply_precision(model, args.precision, "--precision");
    const bool t5 = model.kind == ModelKind::T5;
    // HF's T5Tokenizer adds 100 sentinel ids after the SentencePiece pieces.
    const Tokenizer tokenizer = load_tokenizer(args.tokenizer_path, t5 ? 100 : 0);
    const int model_vocab = t5 ? model.t5.config.vocab_size : model.llama.config.vocab_size;
    if (vocab_size(tokenizer) > model_vocab) {
        fail(args.tokenizer_path, "this tokenizer does not belong to the model (expected at most " +
                                      std::to_string(model_vocab) + " ids, got " + std::to_string(vocab_size(tokenizer)) + ")");
    }
    if (device == Device::CUDA) model_to_device(model, device);
    std::vector<int32_t> ids;
    if (!t5) ids.push_back(model.llama.config.bos_token_id);
    for (int id : encode(tokenizer, args.prompt)) ids.push_back(id);
    if (t5) ids.push_back(model.t5.config.eos_token_id);
    const Tensor input = tensor_to_device(tensor_from_i32({1, (int64_t)ids.size()}, ids), device);
    Tensor mask = tensor_empty({1, (int64_t)ids.size()}, DType::U8);
    for (size_t i = 0; i < ids.size(); i++) mask.u8()[i] = 1;
    GenerateOptions options;
    options.max_new_tokens = args.max_new_tokens < 0 ? 50 : args.max_new_tokens;
    Rng rng = rng_make(args.ask.seed);
    if (args.ask.temperature > 0) {
        options.choose_next = [&](int64_t, const float* logits, int64_t V, const std::vector<int32_t>&) {
            return sample_next_token(logits, V, args.ask, rng);
        };
    }
    std::vector<int32_t> produced = model_generate(model, input, tensor_to_device(mask, device), nullptr, options)[0];
    const int eos = t5 ? model.t5.config.eos_token_id : model.llama.config.eos_token_id;
    if (!produced.empty() && produced.back() == eos) produced.pop_back();
    // LLaMA continues the prompt, so the prompt is printed with it (decoded together, so that the spacing
    // at the seam is the tokenizer's); T5 answers it, so only the answer is printed.
    std::vector<int> shown;
    if (!t5) shown.assign(ids.begin() + 1, ids.end());
    shown.insert(shown.end(), produced.begin(), produced.end());
    std::printf("%s\n", decode(tokenizer, shown).c_str());
}

static std::string cut_text(const std::string& text, size_t width) {
    std::string flat;
    for (char c : text) flat += c == '\n' || c == '\t' ? ' ' : c;
    if (flat.size() <= width) return flat;
    size_t end = width - 3;
    while (end > 0 && ((unsigned char)flat[end] & 0xC0) == 0x80) end--;  // not inside a UTF-8 character
    return flat.substr(0, end) + "...";
}

// input | answer | one column per task: at most `shown` rows, then the mean weight of every input.
static void print_weight_table(const std::vector<std::string>& tasks, const std::vector<AskInput>& inputs,
                               const std::vector<AskAnswer>& answers, size_t shown) {
    std::printf("\nselection weights (SALS, no task id given):\n  %-28s %-16s", "input", "answer");
    for (const std::string& t : tasks) std::printf(" %*s", (int)std::max<size_t>(6, t.size()), t.c_str());
    std::printf("\n");
    std::vector<double> mean(tasks.size(), 0.0);
    for (size_t i = 0; i < answers.size(); i++) {
        for (size_t k = 0; k < answers[i].weights.size() && k < mean.size(); k++) mean[k] += answers[i].weights[k];
        if (i >= shown) continue;
        std::printf("  %-28s %-16s", cut_text(inputs[i].input, 28).c_str(), cut_text(answers[i].answer, 16).c_str());
        for (size_t k = 0; k < tasks.size(); k++) {
            std::printf(" %*.3f", (int)std::max<size_t>(6, tasks[k].size()), answers[i].weights[k]);
        }
        std::printf("\n");
    }
    if (answers.size() > 1) {
        if (answers.size() > shown) std::printf("  ... %zu more\n", answers.size() - shown);
        std::printf("  %-45s", ("mean of " + std::to_string(answers.size()) + " inputs").c_str());
        for (size_t k = 0; k < tasks.size(); k++) {
            std::printf(" %*.3f", (int)std::max<size_t>(6, tasks[k].size()), mean[k] / (double)answers.size());
        }
        std::printf("\n");
    }
}

static void generate_from_run(const GenerateArgs& args, Device device) {
    // Every input is read and checked before the model is loaded or any output written.
    std::vector<AskInput> inputs;
    if (args.has_prompt) inputs.push_back({args.prompt, args.definition});
    else inputs = read_ask_jsonl(args.input_path);
    LoadedRun run = load_run(args.run_dir);
    RunMethod method = load_run_method(run, choose_run_method(args.run_dir, args.method));
    AskOptions options = args.ask;
    options.raw = args.raw;
    options.batch_size = args.batch_size;
    options.max_new_tokens = args.max_new_tokens < 0 ? run.settings.eval.max_new_tokens : args.max_new_tokens;
    options.device = device;
    if (device == Device::CUDA) {
        model_to_device(run.model, device);
        sapt_to_device(method.state, run.model, device);
    }
    const std::vector<AskAnswer> answers = ask_run(run, method, inputs, options);
    const bool selection = method.state.options.selection;
    std::printf("%s (%s, %zu finished tasks%s)\n", args.run_dir.c_str(), method.method.c_str(), method.tasks.size(),
                selection ? "" : "; no selection: every block weight 1");
    if (args.has_prompt) std::printf("answer: %s\n", answers[0].answer.c_str());
    if (!args.output_path.empty()) {
        std::string lines;
        for (size_t i = 0; i < answers.size(); i++) {
            nlohmann::ordered_json line;
            line["input"] = inputs[i].input;
            line["answer"] = answers[i].answer;
            nlohmann::ordered_json weights = nlohmann::ordered_json::object();
            for (size_t k = 0; k < answers[i].weights.size(); k++) weights[method.tasks[k]] = answers[i].weights[k];
            line["weights"] = weights;
            lines += line.dump() + "\n";
        }
        atomic_write_file(args.output_path, lines);
        std::printf("%zu answers: %s\n", answers.size(), args.output_path.c_str());
    }
    if (selection) print_weight_table(method.tasks, inputs, answers, 8);
}

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("%s", kUsage);
            return 0;
        }
    }
    try {
        const GenerateArgs args = parse_args(argc, argv);
        const Device device = parse_device_option(args.device, "--device");
        if (!args.run_dir.empty()) generate_from_run(args, device);
        else generate_from_model(args, device);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
