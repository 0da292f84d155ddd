// test_reliability_files.cpp — files from elsewhere and folders that move: --resume refuses a truncated or
// foreign checkpoint (another backbone, tokenizer, method or task list) naming the file and the mismatch and
// changing nothing; a copied run folder resumes in the copy only; args.json cannot send writes elsewhere;
// two ./train at once share runs/cache and runs/builtin_data; a shard index cannot name files outside its
// checkpoint folder.
#include <catch2/catch.hpp>

#include "bad_inputs_util.h"
#include "engine/safetensors.h"
#include "models/checkpoint.h"
#include "reliability_util.h"
#include "tiny_run_util.h"

namespace {

std::string resume_failure(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                           ContinualOptions options) {
    options.resume = true;
    try {
        run_continual(model, tokenizer, tasks, options);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("--resume refuses a truncated checkpoint, or one of another backbone, tokenizer, method or task list, "
          "naming the file and the mismatch, and changes nothing", "[reliability]") {
    TinyRun s = make_tiny_run("foreign", 2, 5, 6);
    const std::string out = s.root + "/run";
    const std::string checkpoint = checkpoint_path(out);
    std::filesystem::remove_all(out);  // each SECTION starts the case again
    ContinualOptions first = tiny_run_options(out, 3);
    first.stop_after_tasks = 1;
    REQUIRE(run_continual(s.model, s.tokenizer, s.tasks, first).stopped);
    const ContinualOptions options = tiny_run_options(out, 3);
    const auto before = snapshot_of(out);

    SECTION("another backbone") {
        const TinyRun other = make_tiny_run("foreign_model", 2, 5, 7);  // the same shapes, other weights
        const std::string message = resume_failure(other.model, s.tokenizer, s.tasks, options);
        std::filesystem::remove_all(other.root);
        CHECK_THAT(message, Catch::StartsWith(checkpoint + ": the checkpoint was made with another backbone"));
    }
    SECTION("another tokenizer") {
        std::vector<std::string> corpus = synthetic_suite_corpus(make_synthetic_suite(99, 24, 6));  // other text
        const Tokenizer other = make_tokenizer(train_bpe(corpus, 310), 0, "other tokenizer");
        const std::string message = resume_failure(s.model, other, s.tasks, options);
        CHECK_THAT(message, Catch::StartsWith(checkpoint + ": the checkpoint was made with another tokenizer"));
    }
    SECTION("another method") {
        ContinualOptions seqlora = options;
        seqlora.method = "seqlora";
        const std::string message = resume_failure(s.model, s.tokenizer, s.tasks, seqlora);
        CHECK_THAT(message, Catch::StartsWith(checkpoint + ": the checkpoint is of another run (expected method seqlora"));
    }
    SECTION("another task list") {
        const std::vector<Task> reversed = {s.tasks[1], s.tasks[0]};
        const std::string message = resume_failure(s.model, s.tokenizer, reversed, options);
        CHECK_THAT(message, Catch::StartsWith(checkpoint + ": the checkpoint is of another run"));
    }
    SECTION("a truncated checkpoint") {
        const std::string whole = read_file(checkpoint);
        atomic_write_file(checkpoint, whole.substr(0, whole.size() / 2));
        const auto truncated = snapshot_of(out);
        const std::string message = resume_failure(s.model, s.tokenizer, s.tasks, options);
        CHECK_THAT(message, Catch::StartsWith(checkpoint + ": "));
        CHECK(snapshot_of(out) == truncated);
        return;
    }
    CHECK(snapshot_of(out) == before);
    // The same checkpoint with the settings it was made with resumes (the refusals were about the mismatch).
    ContinualOptions resume = options;
    resume.resume = true;
    CHECK_FALSE(run_continual(s.model, s.tokenizer, s.tasks, resume).stopped);
    std::filesystem::remove_all(s.root);
}

TEST_CASE("./train --resume on a truncated checkpoint exits 1 naming the file, and the run folder stays byte for "
          "byte as it was", "[reliability]") {
    const std::string dir = reliability_dir("truncated");
    std::vector<std::string> args = small_builtin_args("runs/t");
    args.insert(args.end(), {"--stop-after", "1"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    const std::string checkpoint = dir + "/runs/t/sapt/checkpoint.safetensors";
    const std::string whole = read_file(checkpoint);
    atomic_write_file(checkpoint, whole.substr(0, whole.size() - 1000));
    const auto before = snapshot_files(dir + "/runs/t");

    const int status = run_program("train", {"--resume", "runs/t"}, dir, &output);
    INFO(output);
    CHECK(status == 1);
    CHECK_THAT(output, Catch::Contains("./train: runs/t/sapt/checkpoint.safetensors: "));
    CHECK(snapshot_files(dir + "/runs/t") == before);
}

TEST_CASE("--resume of a copied run folder continues in the copy and never writes into the original",
          "[reliability]") {
    const std::string dir = reliability_dir("copied");
    std::vector<std::string> args = small_builtin_args("runs/a");
    args.insert(args.end(), {"--stop-after", "1"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    std::filesystem::copy(dir + "/runs/a", dir + "/runs/b", std::filesystem::copy_options::recursive);
    const auto original = snapshot_files(dir + "/runs/a");

    const int status = run_program("train", {"--resume", "runs/b"}, dir, &output);
    INFO(output);
    REQUIRE(status == 0);
    CHECK_THAT(output, Catch::Contains("report: runs/b/report.md"));
    CHECK(snapshot_files(dir + "/runs/a") == original);  // args.json there still says --out runs/a
    CHECK(report_matrices(dir + "/runs/b") == reference_matrices());
}

TEST_CASE("an args.json with an option ./train does not know, or a saved --resume, is refused before anything is "
          "written", "[reliability]") {
    const std::string dir = reliability_dir("args_json");
    for (const std::string& saved : {std::string(R"({"out": "/tmp/elsewhere", "exec": "rm -rf x"})"),
                                     std::string(R"({"out": "runs/x", "resume": "/tmp/elsewhere"})")}) {
        std::filesystem::remove_all(dir + "/runs");
        write_bytes(dir + "/runs/x/args.json", saved);
        std::string output;
        CHECK(run_program("train", {"--resume", "runs/x"}, dir, &output) == 1);
        CHECK_THAT(output, Catch::Contains("runs/x/args.json: unknown saved argument"));
        CHECK(snapshot_files(dir + "/runs").size() == 1);
        CHECK_FALSE(std::filesystem::exists("/tmp/elsewhere"));
    }
}

TEST_CASE("two ./train with different --out at once share runs/cache and runs/builtin_data and both end with "
          "the results of a run alone", "[reliability]") {
    const nlohmann::json alone = reference_matrices();
    const std::string dir = reliability_dir("concurrent", false);  // a cold cache: both want to build the backbone
    const Started one = start_program("train", small_builtin_args("runs/one"), dir, dir + "/one.txt");
    const Started two = start_program("train", small_builtin_args("runs/two"), dir, dir + "/two.txt");
    const int status_one = wait_program(one), status_two = wait_program(two);
    const std::string output = read_file(one.output_path) + "\n----\n" + read_file(two.output_path);
    INFO(output);
    REQUIRE(status_one == 0);
    REQUIRE(status_two == 0);
    // One built the backbone, the other waited for it under the cache's lock and used it (without the lock both
    // would pretrain their own and rename it over the other's).
    size_t built = 0;
    for (size_t at = output.find("backbone ready in"); at != std::string::npos; at = output.find("backbone ready in", at + 1)) built++;
    CHECK(built == 1);
    CHECK(report_matrices(dir + "/runs/one") == alone);
    CHECK(report_matrices(dir + "/runs/two") == alone);
    CHECK(temporaries_under(dir + "/runs").empty());
    const auto cache = snapshot_files(dir + "/runs/cache");
    const auto reference_cache = snapshot_files(reliability_dir("reference") + "/runs/cache");
    REQUIRE(cache.size() == reference_cache.size());
    for (auto a = cache.begin(), b = reference_cache.begin(); a != cache.end(); ++a, ++b) CHECK(a->second == b->second);
}

TEST_CASE("a shard index whose names leave the checkpoint folder is refused with the entry named", "[reliability]") {
    const std::string dir = reliability_dir("shards");
    const std::string model = dir + "/model", fixture = "tests/fixtures/models/t5_gated_untied_lora";
    std::filesystem::remove_all(model);
    write_bytes(model + "/config.json", read_file(fixture + "/config.json"));
    write_bytes(model + "/model-00001-of-00001.safetensors", read_file(fixture + "/model.safetensors"));
    write_bytes(dir + "/outside.safetensors", read_file(fixture + "/model.safetensors"));
    const std::vector<std::string> names = safetensors_open(fixture + "/model.safetensors").names();
    auto write_index = [&](const std::string& shard) {
        nlohmann::json index;
        for (const std::string& name : names) index["weight_map"][name] = shard;
        write_bytes(model + "/model.safetensors.index.json", index.dump());
    };
    const std::string index_path = model + "/model.safetensors.index.json";

    write_index("model-00001-of-00001.safetensors");
    CHECK(read_hf_weights(model).size() == names.size());
    std::filesystem::create_symlink("model-00001-of-00001.safetensors", model + "/alias.safetensors");
    write_index("alias.safetensors");  // a link inside the folder is fine
    CHECK(read_hf_weights(model).size() == names.size());

    for (const std::string& shard : {std::string("../outside.safetensors"), dir + "/outside.safetensors",
                                     std::string("sub/../../outside.safetensors"), std::string("..")}) {
        write_index(shard);
        CHECK_THROWS_WITH(read_hf_weights(model), Catch::StartsWith(index_path + ": weight_map entry \"" + shard +
                                                                    "\" leaves the checkpoint folder"));
    }
    std::filesystem::create_symlink(dir + "/outside.safetensors", model + "/link.safetensors");
    write_index("link.safetensors");
    CHECK_THROWS_WITH(read_hf_weights(model), Catch::StartsWith(index_path + ": weight_map entry \"link.safetensors\" "
                                                                "is a link out of the checkpoint folder"));
}
