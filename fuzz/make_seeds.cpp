// make_seeds.cpp — writes the starting corpus of each fuzz target (`make fuzz` runs it): small valid
// inputs of every format built with the library's own writers, so the fuzzer starts past the first checks.
//   make_seeds DIR   → DIR/fuzz_<target>/seed_*; existing files are kept (the corpus grows across runs)
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "sapt/checkpoint.h"
#include "fuzz/fuzz_targets.h"
#include "sapt/peft.h"
#include "tests/bad_inputs_files.h"
#include "tokenizer/model_proto.h"
#include "tokenizer/trainer.h"

static void write_seed(const std::string& dir, const std::string& target, const std::string& name,
                       const std::string& bytes) {
    const std::string folder = dir + "/" + target;
    mkdir(dir.c_str(), 0755);
    mkdir(folder.c_str(), 0755);
    atomic_write_file(folder + "/seed_" + name, bytes);
}

static std::string safetensors_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                     const std::map<std::string, std::string>& metadata) {
    const std::string path = "/tmp/sapt_make_seeds_" + std::to_string(getpid()) + ".safetensors";
    safetensors_save(path, tensors, metadata);
    std::string bytes = read_file(path);
    std::remove(path.c_str());
    return bytes;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    try {
        // safetensors
        write_seed(dir, "fuzz_safetensors", "f32_bf16", safetensors_bytes(
            {{"a", tensor_from({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", tensor_to_bf16(tensor_from({2}, {0.5f, -1}))},
             {"ids", tensor_from_i32({3}, {1, 2, 3})}, {"mask", tensor_zeros({4}, DType::U8)}},
            {{"format", "pt"}}));
        write_seed(dir, "fuzz_safetensors", "empty", safetensors_bytes({}, {}));
        write_seed(dir, "fuzz_safetensors", "f16_i64",
                   raw_safetensors("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                                   "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]}}",
                                   std::string("\x00\x3c\x00\xc0\x07\x00\x00\x00\x00\x00\x00\x00", 12)));

        // CL_Benchmark files; the first byte picks the reader (fuzz_targets.h).
        const std::string superni =
            "{\"Definition\": [\"Answer the question.\"], \"Instances\": [{\"id\": \"t1-0\", \"input\": \"2+2?\", "
            "\"output\": [\"4\", \"four\"]}, {\"id\": \"t1-1\", \"input\": \"caf\xC3\xA9\", \"output\": \"x\"}]}";
        const std::string longseq =
            "{\"Definition\": [], \"Instances\": [{\"input\": \"great movie\", \"output\": \"Good\"}]}";
        write_seed(dir, "fuzz_cl_benchmark", "superni", std::string(1, '\0') + superni);
        write_seed(dir, "fuzz_cl_benchmark", "long_sequence", std::string(1, '\1') + longseq);
        write_seed(dir, "fuzz_cl_benchmark", "labels", std::string(1, '\2') + "[\"Good\", \"Bad\"]");
        const std::string orders =
            "{\"orders\": {\"superni_order1\": {\"benchmark\": \"SuperNI\", \"num_tasks\": 2, \"tasks\": [\"a\", \"b\"]}, "
            "\"long1\": {\"benchmark\": \"Long_Sequence\", \"tasks\": [\"yelp\"]}}}";
        write_seed(dir, "fuzz_cl_benchmark", "orders_all", std::string(1, '\3') + orders);
        write_seed(dir, "fuzz_cl_benchmark", "orders_one", std::string(1, '\4') + orders);

        // config.json
        write_seed(dir, "fuzz_config", "t5",
                   "{\"model_type\": \"t5\", \"d_model\": 8, \"d_kv\": 4, \"d_ff\": 16, \"num_heads\": 2, \"num_layers\": 1, "
                   "\"vocab_size\": 32, \"feed_forward_proj\": \"gated-gelu\", \"tie_word_embeddings\": false}");
        write_seed(dir, "fuzz_config", "llama",
                   "{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 16, \"num_attention_heads\": 2, "
                   "\"num_key_value_heads\": 1, \"num_hidden_layers\": 1, \"vocab_size\": 32, \"rms_norm_eps\": 1e-5, "
                   "\"rope_scaling\": null, \"hidden_act\": \"silu\"}");

        // tokenizer models (small vocabularies keep the seeds a few KB) and encode texts
        const std::vector<std::string> corpus = {"the quick brown fox", "caf\xC3\xA9 \xEF\xBC\xA1 12 tabs\tand  spaces",
                                                 "the fox and the dog"};
        UnigramTrainerOptions unigram_options;
        unigram_options.byte_fallback = false;
        BpeTrainerOptions bpe_options;
        bpe_options.byte_fallback = false;
        write_seed(dir, "fuzz_model_proto", "unigram", serialize_model_proto(train_unigram(corpus, 40, unigram_options)));
        write_seed(dir, "fuzz_model_proto", "bpe", serialize_model_proto(train_bpe(corpus, 40, bpe_options)));
        unigram_options.nfkc = false;  // small seeds without a charsmap, and the hand-made ones
        bpe_options.nfkc = false;
        write_seed(dir, "fuzz_model_proto", "unigram_identity", serialize_model_proto(train_unigram(corpus, 40, unigram_options)));
        write_seed(dir, "fuzz_model_proto", "bpe_identity", serialize_model_proto(train_bpe(corpus, 40, bpe_options)));
        write_seed(dir, "fuzz_model_proto", "tiny_unigram", serialize_model_proto(tiny_sentencepiece_model(false)));
        write_seed(dir, "fuzz_model_proto", "tiny_bpe", serialize_model_proto(tiny_sentencepiece_model(true)));
        for (int t = 0; t < 5; t++) {
            write_seed(dir, "fuzz_encode", "text" + std::to_string(t),
                       std::string(1, char(t)) + "Definition: caf\xC3\xA9 <extra_id_0> \xE3\x80\x80 12\t\xFF  x\xE2\x96\x81y");
        }

        // llama2.c
        write_seed(dir, "fuzz_llama2c", "v0_shared", llama2c_bytes(0, true));
        write_seed(dir, "fuzz_llama2c", "v0_classifier", llama2c_bytes(0, false));
        write_seed(dir, "fuzz_llama2c", "v1_shared", llama2c_bytes(1, true));

        // loop checkpoint state (loop.state metadata): between two tasks, then inside the second one
        const double not_yet = std::numeric_limits<double>::quiet_NaN();
        LoopState loop;
        loop.method = "sapt";
        loop.tasks = {"sentiment", "topic", "count"};
        loop.completed = 1;
        loop.matrix = {{98.0, not_yet, not_yet}, {not_yet, not_yet, not_yet}, {not_yet, not_yet, not_yet}};
        loop.weights = {{{1.0}, {}, {}}, {}, {}};
        Instance sample;
        sample.input = "a fine film";
        sample.prompt = "Classify the review.\na fine film\nOutput: ";
        loop.pseudo = {{sample}, {}, {}};
        loop.global_rng = rng_to_string(rng_make(7));
        write_seed(dir, "fuzz_loop_state", "between_tasks", loop_state_to_json(loop));
        loop.in_task = true;
        loop.position.step = 3;
        loop.position.next_batch = 3;
        loop.position.micro_steps = 3;
        loop.position.order = {2, 0, 3, 1};
        loop.position.data_rng = rng_make(1, 2);
        write_seed(dir, "fuzz_loop_state", "in_task", loop_state_to_json(loop));

        // ./generate --input lines and a run folder's args.json
        write_seed(dir, "fuzz_ask_jsonl", "two_lines",
                   "{\"input\": \"a fine film\"}\n\n{\"input\": \"bad\", \"definition\": \"Classify.\"}\n");
        write_seed(dir, "fuzz_run_settings", "builtin",
                   "{\"out\": \"runs/builtin\", \"method\": \"sapt,seqlora\", \"lora-r\": \"8\", \"seed\": \"1\"}");
        write_seed(dir, "fuzz_run_settings", "real",
                   "{\"data\": \"d\", \"order\": \"long15\", \"model\": \"m\", \"pet\": \"prompt\", \"compat\": \"official\"}");

        // a PEFT adapter folder and ./export's sals.safetensors of two tasks, for the tiny T5 the target reads them for
        {
            const Model& model = fuzz_tiny_t5();
            SaptOptions o;
            o.lora_rank = 2;
            o.lora_alpha = 16;
            o.trans_hidden = fuzz_sals_hidden;
            SaptState state = sapt_create(model, o);
            Rng rng = rng_make(4);
            sapt_add_task(state, rng);
            sapt_add_task(state, rng);
            state.targets = {{1.0f}, {0.25f, 0.75f}};
            const std::string folder = "/tmp/sapt_make_seeds_adapter_" + std::to_string(getpid());
            write_peft_adapter(folder, lora_block_of_task(state, 0), state.sites, model.kind, "fuzz-t5");
            write_sals_parameters(folder, sals_parameters_of(state, {"first", "second"}), model.kind, o.trans_hidden);
            auto packed = [&](uint8_t reader, const std::string& weights_file) {
                const std::string config = read_file(folder + "/adapter_config.json");
                std::string bytes;
                bytes += (char)reader;
                bytes += (char)(config.size() & 0xff);
                bytes += (char)(config.size() >> 8);
                return bytes + config + read_file(folder + "/" + weights_file);
            };
            write_seed(dir, "fuzz_peft_adapter", "lora", packed(0, "adapter_model.safetensors"));
            write_seed(dir, "fuzz_peft_adapter", "sals", packed(1, "sals.safetensors"));
            std::filesystem::remove_all(folder);
        }
    } catch (const sapt_error& e) {
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
