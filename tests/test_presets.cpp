// test_presets.cpp — ./train --preset NAME: a preset's values are the official ones (SAPT.md section 3), an
// explicit flag overrides the preset, args.json records the resolved values, --help lists the presets, and
// --ablation NAME resolves to the method sapt-NAME.
#include <catch2/catch.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "sapt/presets.h"
#include "tests/reliability_util.h"

TEST_CASE("the t5-superni and llama2-longseq presets hold the official settings", "[presets]") {
    const std::map<std::string, std::string> t5 = apply_preset({}, preset_named("t5-superni"));
    CHECK(t5.at("lr") == "3e-4");
    CHECK(t5.at("batch-size") == "8");
    CHECK(t5.at("grad-accum") == "4");
    CHECK(t5.at("epochs") == "100");
    CHECK(t5.at("lora-r") == "4");
    CHECK(t5.at("lora-alpha") == "32");
    CHECK(t5.at("kl") == "0.5");
    CHECK(t5.at("max-source-len") == "512");
    CHECK(t5.at("order") == "superni_order1");
    const std::map<std::string, std::string> llama = apply_preset({}, preset_named("llama2-longseq"));
    CHECK(llama.at("lr") == "5e-5");
    CHECK(llama.at("kl") == "2");
    CHECK(llama.at("max-source-len") == "1024");
    CHECK(std::stoi(llama.at("batch-size")) * std::stoi(llama.at("grad-accum")) == 32);  // the effective batch
    CHECK(preset_named("t5-longseq").values != preset_named("t5-superni").values);
    CHECK_THROWS_WITH(preset_named("t5-large"), Catch::Contains("t5-superni"));
}

TEST_CASE("an explicit flag overrides the preset; the preset fills the rest", "[presets]") {
    const std::map<std::string, std::string> resolved =
        apply_preset({{"lr", "1e-3"}, {"order", "superni_order2"}}, preset_named("t5-superni"));
    CHECK(resolved.at("lr") == "1e-3");
    CHECK(resolved.at("order") == "superni_order2");
    CHECK(resolved.at("kl") == "0.5");
}

TEST_CASE("./train --preset: args.json records the resolved values, flags first; --ablation is its method",
          "[presets]") {
    const std::string dir = reliability_dir("preset_args");
    std::vector<std::string> args = small_builtin_args("runs/preset");
    const auto method = std::find(args.begin(), args.end(), "--method");
    args.erase(method, method + 2);
    args.insert(args.end(), {"--preset", "t5-longseq", "--order", "builtin", "--ablation", "no-arm", "--stop-after", "1"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    INFO(output);
    const nlohmann::json saved = nlohmann::json::parse(read_file(dir + "/runs/preset/args.json"));
    CHECK(saved["lr"] == "0.01");         // given: the flag
    CHECK(saved["epochs"] == "3");        // given: the flag
    CHECK(saved["order"] == "builtin");   // given: the flag
    CHECK(saved["grad-accum"] == "2");    // not given: t5-longseq's
    CHECK(saved["kl"] == "0.1");
    CHECK(saved["lora-r"] == "8");
    CHECK(saved["max-target-len"] == "50");
    CHECK(saved["method"] == "sapt-no-arm");
    CHECK_FALSE(saved.contains("ablation"));
    CHECK(std::filesystem::exists(dir + "/runs/preset/sapt-no-arm/log.jsonl"));

    REQUIRE(run_program("train", {"--help"}, dir, &output) == 0);
    for (const char* text : {"t5-superni", "t5-longseq", "llama2-superni", "llama2-longseq", "--kl 0.5", "--seeds",
                             "--ablation no-arm|no-sals"}) {
        CHECK(output.find(text) != std::string::npos);
    }
    REQUIRE(run_program("train", {"--ablation", "no-foo"}, dir, &output) == 1);
    CHECK(output.find("expected no-arm or no-sals") != std::string::npos);
}
