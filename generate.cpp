// generate.cpp — the `generate` command: greedy decoding from a prompt with a T5 or LLaMA checkpoint.
//   ./generate --model PATH --tokenizer FILE --prompt TEXT [--max-new-tokens N] [--precision f32|bf16]
// PATH is a Hugging Face directory (config.json + safetensors) or a llama2.c .bin; FILE is a
// SentencePiece .model. T5 encodes the prompt followed by </s> and prints its answer; LLaMA starts
// with <s> and prints the prompt with its continuation. Not here: sampling, batching several prompts,
// PET adapters (train.cpp's job).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "models/generate.h"
#include "models/model_device.h"
#include "tokenizer/tokenizer.h"

static const char* kUsage =
    "usage: ./generate --model PATH --tokenizer FILE --prompt TEXT [--max-new-tokens N] [--precision f32|bf16]\n"
    "  PATH  a Hugging Face checkpoint directory (T5 or LLaMA) or a llama2.c .bin file\n"
    "  FILE  the SentencePiece .model of the checkpoint\n"
    "  bf16  weights stored in bf16 and multiplied as bf16 with f32 sums (default f32)\n";

struct GenerateArgs {
    std::string model_path, tokenizer_path, prompt, precision = "f32";
    int max_new_tokens = 50;
};

static GenerateArgs parse_args(int argc, char** argv) {
    GenerateArgs args;
    bool has_prompt = false;
    for (int i = 1; i < argc; i++) {
        std::string flag = argv[i];
        if (i + 1 >= argc) fail("generate", "flag " + flag + " needs a value\n" + kUsage);
        std::string value = argv[++i];
        if (flag == "--model") {
            args.model_path = value;
        } else if (flag == "--tokenizer") {
            args.tokenizer_path = value;
        } else if (flag == "--prompt") {
            args.prompt = value;
            has_prompt = true;
        } else if (flag == "--precision") {
            args.precision = value;
        } else if (flag == "--max-new-tokens") {
            char* end = nullptr;
            long n = std::strtol(value.c_str(), &end, 10);
            if (*end != '\0' || n < 0 || n > 1000000)
                fail("generate", "--max-new-tokens expects a count >= 0 (got \"" + value + "\")");
            args.max_new_tokens = (int)n;
        } else {
            fail("generate", "unknown flag " + flag + "\n" + kUsage);
        }
    }
    if (args.model_path.empty() || args.tokenizer_path.empty() || !has_prompt) {
        fail("generate", std::string("--model, --tokenizer and --prompt are required\n") + kUsage);
    }
    check_precision_name(args.precision, "--precision");
    return args;
}

int main(int argc, char** argv) {
    try {
        GenerateArgs args = parse_args(argc, argv);
        Model model = load_pretrained_model(args.model_path);
        model_apply_precision(model, args.precision, "--precision");
        bool t5 = model.kind == ModelKind::T5;
        // HF's T5Tokenizer adds 100 sentinel ids after the SentencePiece pieces.
        Tokenizer tokenizer = load_tokenizer(args.tokenizer_path, t5 ? 100 : 0);
        int model_vocab = t5 ? model.t5.config.vocab_size : model.llama.config.vocab_size;
        if (vocab_size(tokenizer) > model_vocab) {
            fail(args.tokenizer_path, "this tokenizer does not belong to the model (expected at most " +
                                          std::to_string(model_vocab) + " ids, got " +
                                          std::to_string(vocab_size(tokenizer)) + ")");
        }
        std::vector<int32_t> ids;
        if (!t5) ids.push_back(model.llama.config.bos_token_id);
        for (int id : encode(tokenizer, args.prompt)) ids.push_back(id);
        if (t5) ids.push_back(model.t5.config.eos_token_id);

        Tensor input = tensor_from_i32({1, (int64_t)ids.size()}, ids);
        Tensor mask = tensor_empty({1, (int64_t)ids.size()}, DType::U8);
        for (size_t i = 0; i < ids.size(); i++) mask.u8()[i] = 1;
        GenerateOptions options;
        options.max_new_tokens = args.max_new_tokens;
        std::vector<int32_t> produced = model_generate(model, input, mask, nullptr, options)[0];
        int eos = t5 ? model.t5.config.eos_token_id : model.llama.config.eos_token_id;
        if (!produced.empty() && produced.back() == eos) produced.pop_back();
        // LLaMA continues the prompt, so the prompt is printed with it (decoded together, so that the
        // spacing at the seam is the tokenizer's); T5 answers it, so only the answer is printed.
        std::vector<int> shown;
        if (!t5) shown.assign(ids.begin() + 1, ids.end());
        shown.insert(shown.end(), produced.begin(), produced.end());
        std::string text = decode(tokenizer, shown);
        std::printf("%s\n", text.c_str());
        return 0;
    } catch (const sapt_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
