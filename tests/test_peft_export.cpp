// test_peft_export.cpp — LoRA blocks to and from PEFT adapter folders: PEFT's names, shapes and config for
// T5 and LLaMA against tests/fixtures/peft (written from PEFT's source), a trained run exported and imported
// back bit for bit with the same answers, a sequence started from imported adapters, and bad adapters
// refused naming their file.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include "data/json_file.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "sapt/ask.h"
#include "sapt/import_start.h"
#include "sapt/peft.h"
#include "tests/after_training_util.h"
#include "tests/test_sapt_util.h"

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = tensor_values(a), y = tensor_values(b);
    return a.shape() == b.shape() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// A tiny T5 like the run folders' (d_model 32, 4 x 8 heads), with `layers` blocks per stack.
Model tiny_t5(int layers) {
    T5Config c;
    c.d_model = 32;
    c.d_kv = 8;
    c.num_heads = 4;
    c.d_ff = 64;
    c.num_layers = c.num_decoder_layers = layers;
    c.vocab_size = 50;
    c.dropout_rate = 0;
    Rng rng = rng_make(3);
    WeightLoad load;
    load.where = "test T5";
    load.remaining = random_t5_weights(c, rng);
    Model model;
    model.kind = ModelKind::T5;
    model.t5 = t5_from_weights(c, load, nullptr);
    return model;
}

// One task's block with random B (PEFT starts B at zero; a trained one is not).
LoraBlock random_block(const Model& model, int rank, float alpha) {
    SaptOptions o;
    o.lora_rank = rank;
    o.lora_alpha = alpha;
    o.selection = false;
    SaptState state = sapt_create(model, o);
    Rng rng = rng_make(9);
    sapt_add_task(state, rng);
    for (LoraBank& bank : state.lora) init_normal(bank.current_B, 0.0f, 0.5f, rng);
    return lora_block_of_task(state, 0);
}

std::string temp_dir(const std::string& name) {
    const std::string dir = (std::filesystem::temp_directory_path() / ("sapt_peft_" + name + "_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

void check_against_fixture(const std::string& dir, const std::string& fixture_path, const std::string& base_model) {
    const nlohmann::json fixture = read_json_file(fixture_path);
    const nlohmann::json config = read_json_file(dir + "/adapter_config.json");
    for (auto it = fixture["adapter_config"].begin(); it != fixture["adapter_config"].end(); ++it) {
        INFO("adapter_config field " << it.key());
        REQUIRE(config.contains(it.key()));
        CHECK(config[it.key()] == it.value());
    }
    CHECK(config["base_model_name_or_path"] == base_model);
    const SafeTensorsFile file = safetensors_open(dir + "/adapter_model.safetensors");
    CHECK(file.tensors.size() == fixture["tensors"].size());
    for (auto it = fixture["tensors"].begin(); it != fixture["tensors"].end(); ++it) {
        INFO("tensor " << it.key());
        REQUIRE(file.has(it.key()));
        CHECK(file.tensors.at(it.key()).dtype == "F32");
        CHECK(file.tensors.at(it.key()).shape == it.value().get<std::vector<int64_t>>());
    }
    CHECK(file.metadata.at("format") == "pt");
}

}  // namespace

TEST_CASE("PEFT tensor names, shapes and adapter_config for T5 match the fixture from PEFT's source", "[after-training]") {
    const Model model = tiny_t5(1);
    const LoraBlock block = random_block(model, 2, 32.0f);
    const std::string dir = temp_dir("t5_names");
    write_peft_adapter(dir, block, model_adapted_sites(model), model.kind, "t5-tiny");
    check_against_fixture(dir, "tests/fixtures/peft/t5_tiny.json", "t5-tiny");
    const LoraBlock back = read_peft_adapter(dir, model, 2);
    REQUIRE(back.A.size() == block.A.size());
    for (size_t s = 0; s < block.A.size(); s++) {
        CHECK(same_bits(back.A[s], block.A[s]));
        CHECK(same_bits(back.B[s], block.B[s]));
    }
    CHECK(back.alpha == 32.0f);
}

TEST_CASE("PEFT tensor names, shapes and adapter_config for LLaMA match the fixture from PEFT's source", "[after-training]") {
    Rng rng = rng_make(4);
    const Model model = tiny_llama(rng);
    const LoraBlock block = random_block(model, 4, 8.0f);
    const std::string dir = temp_dir("llama_names");
    write_peft_adapter(dir, block, model_adapted_sites(model), model.kind, "llama-tiny");
    check_against_fixture(dir, "tests/fixtures/peft/llama_tiny.json", "llama-tiny");
    const LoraBlock back = read_peft_adapter(dir, model, 4);
    for (size_t s = 0; s < block.A.size(); s++) CHECK(same_bits(back.B[s], block.B[s]));
}

TEST_CASE("An exported block is PEFT's LoRA of its task: x A^T B^T alpha / r equals the bank's delta for that task",
          "[after-training]") {
    static const TinyRunFolder f = make_tiny_run_folder("semantics", 2, 2, {"inclora"});
    const LoadedRun run = load_run(f.run_dir);
    const RunMethod method = load_run_method(run, "inclora");
    REQUIRE(method.state.num_tasks == 2);
    const std::string to = f.root + "/export";
    export_run_method(run, method, to, "tiny");
    Rng rng = rng_make(21);
    const LoraBank& bank = method.state.lora[0];  // the encoder's q
    const Tensor x = random_tensor({1, 3, bank.site.in_features}, rng);
    for (int task = 0; task < 2; task++) {
        const LoraBlock peft = read_peft_adapter(to + "/" + f.task_names[(size_t)task], run.model, 2);
        std::vector<float> w = {0, 0};
        w[(size_t)(1 - task)] = 1;  // slot order: the newest task first
        LoraMixOptions mix;
        mix.scaling = 32.0f / 2.0f;
        NoGradScope no_grad;
        const std::vector<float> ours = tensor_values(lora_bank_delta(bank, x, tensor_from({1, 2}, w), mix));
        // PEFT's Linear.forward: result + lora_B(lora_A(dropout(x))) * scaling, in plain loops.
        const std::vector<float> xs = tensor_values(x), A = tensor_values(peft.A[0]), B = tensor_values(peft.B[0]);
        const int64_t C = bank.site.in_features, O = bank.site.out_features, R = 2;
        for (int64_t t = 0; t < 3; t++) {
            for (int64_t o = 0; o < O; o++) {
                double sum = 0;
                for (int64_t r = 0; r < R; r++) {
                    double h = 0;
                    for (int64_t c = 0; c < C; c++) h += (double)xs[(size_t)(t * C + c)] * A[(size_t)(r * C + c)];
                    sum += h * B[(size_t)(o * R + r)];
                }
                INFO("task " << task << " position " << t << " output " << o);
                CHECK(ours[(size_t)(t * O + o)] == Approx(sum * 16.0).margin(1e-5));
            }
        }
    }
}

TEST_CASE("Export then import gives bit-identical blocks, keys, projector and targets, and the same answers",
          "[after-training]") {
    static const TinyRunFolder f = make_tiny_run_folder("roundtrip", 3, 2, {"sapt"});
    const LoadedRun run = load_run(f.run_dir);
    RunMethod method = load_run_method(run, "sapt");
    const std::string to = f.root + "/export";
    const std::vector<std::string> folders = export_run_method(run, method, to, "tiny");
    REQUIRE(folders.size() == 2);
    CHECK(file_exists(to + "/sals.safetensors"));
    CHECK(file_exists(to + "/sals.json"));
    CHECK(file_exists(to + "/adapters.json"));

    const ImportedAdapters imported = read_imported_adapters({to}, run.model, 2, method.state.options.trans_hidden);
    REQUIRE(imported.blocks.size() == 2);
    CHECK(imported.blocks[0].task == f.task_names[0]);
    CHECK(imported.sals.tasks == method.tasks);
    RunMethod back;
    back.method = "sapt";
    back.tasks = method.tasks;
    back.state = sapt_create(run.model, method.state.options);
    sapt_state_from_blocks(back.state, imported.blocks, imported.sals);
    const auto want = sapt_tensors(method.state), got = sapt_tensors(back.state);
    REQUIRE(want.size() == got.size());
    for (size_t i = 0; i < want.size(); i++) {
        INFO(want[i].first);
        CHECK(got[i].first == want[i].first);
        CHECK(same_bits(got[i].second, want[i].second));
    }

    std::vector<AskInput> inputs;
    for (int t = 0; t < 3; t++) {  // two seen tasks and one unseen
        for (int i = 0; i < 2; i++) inputs.push_back({f.tasks[(size_t)t].test[(size_t)i].input, f.tasks[(size_t)t].definition});
    }
    AskOptions options;
    options.max_new_tokens = 4;
    options.batch_size = 4;
    const std::vector<AskAnswer> a = ask_run(run, method, inputs, options), b = ask_run(run, back, inputs, options);
    REQUIRE(a.size() == inputs.size());
    for (size_t i = 0; i < a.size(); i++) {
        CHECK(a[i].answer == b[i].answer);
        CHECK(a[i].weights == b[i].weights);
        REQUIRE(a[i].weights.size() == 2);
        CHECK(a[i].weights[0] + a[i].weights[1] == Approx(1.0).margin(1e-5));
    }
}

TEST_CASE("A sequence started from imported adapters trains the next task and keeps the imported blocks bit for bit",
          "[after-training]") {
    static const TinyRunFolder f = make_tiny_run_folder("import_start", 3, 2, {"sapt"});
    const LoadedRun run = load_run(f.run_dir);
    const RunMethod method = load_run_method(run, "sapt");
    const std::string to = f.root + "/export";
    export_run_method(run, method, to, "tiny");
    const ImportedAdapters imported = read_imported_adapters({to}, f.model, 2, 100);

    ContinualOptions o = tiny_run_options(f.root + "/imported/sapt", 5);
    o.sapt.lora_alpha = 32.0f;
    o.resume = true;
    write_imported_start(f.model, f.tokenizer, f.tasks, imported, o);
    const ContinualResult result = run_continual(f.model, f.tokenizer, f.tasks, o);
    REQUIRE(result.matrix.size() == 3);
    for (double v : result.matrix[2]) CHECK(!std::isnan(v));
    CHECK(!std::isnan(result.matrix[1][0]));  // the imported stages were scored too

    const std::string checkpoint = checkpoint_path(o.out_dir);
    SaptState after = sapt_create(f.model, method.state.options);
    sapt_load(after, checkpoint);
    REQUIRE(after.num_tasks == 3);
    for (int task = 0; task < 2; task++) {
        const LoraBlock block = lora_block_of_task(after, task);
        for (size_t s = 0; s < block.A.size(); s++) {
            CHECK(same_bits(block.A[s], imported.blocks[(size_t)task].A[s]));
            CHECK(same_bits(block.B[s], imported.blocks[(size_t)task].B[s]));
        }
    }
    const SalsParameters keys = sals_parameters_of(after, {"a", "b", "c"});
    CHECK(same_bits(slice(keys.keys, 0, 0, 2), imported.sals.keys));
}

TEST_CASE("Adapters of another rank, model or shape are refused naming the file", "[after-training][bad-inputs]") {
    const Model t5 = tiny_t5(1), t5_deeper = tiny_t5(2);
    Rng rng = rng_make(5);
    const Model llama = tiny_llama(rng);
    const std::string dir = temp_dir("bad"), one = dir + "/one", two = dir + "/two";
    write_peft_adapter(one, random_block(t5, 2, 32.0f), model_adapted_sites(t5), t5.kind, "t5-tiny");
    write_peft_adapter(two, random_block(t5_deeper, 2, 32.0f), model_adapted_sites(t5_deeper), t5.kind, "t5-deeper");

    SECTION("another rank") {
        REQUIRE_THROWS_WITH(read_peft_adapter(one, t5, 4),
                            Catch::Contains(one + "/adapter_config.json") && Catch::Contains("rank 2 (expected 4"));
        SaptOptions o;
        o.lora_rank = 4;
        o.selection = false;
        SaptState state = sapt_create(t5, o);
        REQUIRE_THROWS_WITH(sapt_state_from_blocks(state, {read_peft_adapter(one, t5, 0)}, SalsParameters{}),
                            Catch::Contains("rank 2 (expected 4"));
    }
    SECTION("another model family") {
        REQUIRE_THROWS_WITH(read_peft_adapter(one, llama, 2),
                            Catch::Contains("adapter_config.json") && Catch::Contains("q_proj"));
    }
    SECTION("another model of the same family: more layers, fewer layers") {
        REQUIRE_THROWS_WITH(read_peft_adapter(one, t5_deeper, 2),
                            Catch::Contains(one + "/adapter_model.safetensors") &&
                                Catch::Contains("missing tensor base_model.model.encoder.block.1.layer.0.SelfAttention.q.lora_A.weight"));
        REQUIRE_THROWS_WITH(read_peft_adapter(two, t5, 2),
                            Catch::Contains(two + "/adapter_model.safetensors") && Catch::Contains("unexpected tensor"));
    }
    SECTION("a tensor of another shape") {
        const SafeTensorsFile file = safetensors_open(one + "/adapter_model.safetensors");
        std::vector<std::pair<std::string, Tensor>> tensors;
        for (const std::string& name : file.names()) {
            const bool bad = name == "base_model.model.decoder.block.0.layer.1.EncDecAttention.v.lora_B.weight";
            tensors.push_back({name, bad ? tensor_zeros({31, 2}) : tensor_clone(file.get(name))});
        }
        safetensors_save(one + "/adapter_model.safetensors", tensors);
        REQUIRE_THROWS_WITH(read_peft_adapter(one, t5, 2),
                            Catch::Contains("adapter_model.safetensors") && Catch::Contains("EncDecAttention.v.lora_B.weight") &&
                                Catch::Contains("expected (32, 2)") && Catch::Contains("got (31, 2)"));
    }
    SECTION("not a LoRA adapter, or a LoRA variant we cannot represent") {
        atomic_write_file(one + "/adapter_config.json", "{\"peft_type\": \"PREFIX_TUNING\"}");
        REQUIRE_THROWS_WITH(read_peft_adapter(one, t5, 2), Catch::Contains("peft_type must be \"LORA\""));
        atomic_write_file(one + "/adapter_config.json",
                          "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 32, \"use_dora\": true, \"target_modules\": [\"q\", \"v\"]}");
        REQUIRE_THROWS_WITH(read_peft_adapter(one, t5, 2), Catch::Contains("DoRA"));
    }
}

TEST_CASE("SAPT started from PEFT folders without keys learns a key per adapter that routes its task to its block",
          "[after-training]") {
    // IncLoRA's blocks: trained without any key, exported as plain PEFT folders (no sals.safetensors).
    static const TinyRunFolder f = make_tiny_run_folder("import_learn", 3, 2, {"inclora"});
    const LoadedRun run = load_run(f.run_dir);
    const RunMethod method = load_run_method(run, "inclora");
    const std::string to = f.root + "/export";
    export_run_method(run, method, to, "tiny");
    CHECK(!file_exists(to + "/sals.safetensors"));
    const ImportedAdapters imported = read_imported_adapters({to}, f.model, 2, 100);
    REQUIRE(imported.sals.tasks.empty());

    // The same start with a learning rate of 0 keeps the keys as first drawn: the reference.
    auto start = [&](const std::string& name, float lr) {
        ContinualOptions o = tiny_run_options(f.root + "/" + name + "/sapt", 5);
        o.sapt.lora_alpha = 32.0f;
        o.train.epochs = 4;
        o.train.lr = lr;
        o.resume = true;
        write_imported_start(f.model, f.tokenizer, f.tasks, imported, o);
        const SafeTensorsFile file = safetensors_open(checkpoint_path(o.out_dir));
        const LoopState loop = loop_state_from_json(file.metadata.at("loop.state"), "checkpoint");
        CHECK(loop.completed == 2);
        REQUIRE(loop.weights[1][1].size() == 2);
        return std::make_pair(o, loop);
    };
    const auto drawn = start("drawn", 0.0f);
    const auto learned = start("learned", 3e-3f);
    // Stage 2: task 1's test inputs weigh task 1's block (its learned key) most, and more than with the drawn key.
    CHECK(learned.second.weights[1][1][1] > 0.5);
    CHECK(learned.second.weights[1][1][1] > drawn.second.weights[1][1][1]);
    const ContinualResult result = run_continual(f.model, f.tokenizer, f.tasks, learned.first);
    for (double v : result.matrix[2]) CHECK(!std::isnan(v));
}
