// test_generator_limits.cpp — regression tests for a report that `./train --max-target-len 8` died with
// std::bad_alloc in generate_pseudo_samples: the generator reads its own target limit (GeneratorOptions,
// 512 by default) and never the task's, so its samples are the same at a task limit of 50, 8 or 1; its own
// limit works down to 1 (the label is then </s> alone) and below 1 is refused with a message, where the
// label cut once asked for a vector of SIZE_MAX ints.
#include <catch2/catch.hpp>

#include "engine/error.h"
#include "sapt/generator.h"
#include "tests/tiny_run_util.h"

namespace {

const TinyRun& generator_run() {
    static const TinyRun run = make_tiny_run("generator_test", 1, 4, 5);
    return run;
}

BatchingOptions task_batching(int max_target_length) {
    BatchingOptions b;
    b.pad_id = 0;
    b.eos_id = 2;
    b.max_source_length = 64;
    b.max_target_length = max_target_length;
    return b;
}

GeneratorOptions small_generator() {
    GeneratorOptions g;
    g.train.max_steps = 3;
    g.train.batch_size = 4;
    g.max_new_tokens = 6;
    g.fraction = 0.2f;
    return g;
}

std::vector<Instance> samples_of(int task_max_target, const GeneratorOptions& g) {
    const TinyRun& run = generator_run();
    return generate_pseudo_samples(run.model, run.tokenizer, run.tasks[0], task_batching(task_max_target), g, 17);
}

}  // namespace

TEST_CASE("Pseudo samples are the same whatever the task's max target length (50, 8, 1)", "[reliability]") {
    const Task& task = generator_run().tasks[0];
    const std::vector<Instance> reference = samples_of(50, small_generator());
    REQUIRE((int)reference.size() == pseudo_sample_count((int)task.train.size(), 0.2f));
    for (const Instance& sample : reference) {
        const std::string tail = sample.input + "\nOutput: ";
        REQUIRE(sample.prompt.size() >= tail.size());
        CHECK(sample.prompt.compare(sample.prompt.size() - tail.size(), tail.size(), tail) == 0);
    }
    for (int max_target : {8, 1}) {
        INFO("--max-target-len " << max_target);
        const std::vector<Instance> samples = samples_of(max_target, small_generator());
        REQUIRE(samples.size() == reference.size());
        for (size_t i = 0; i < samples.size(); i++) {
            CHECK(samples[i].input == reference[i].input);
            CHECK(samples[i].prompt == reference[i].prompt);
        }
    }
}

TEST_CASE("The generator's own target limit works down to 1 and is refused below", "[reliability]") {
    GeneratorOptions g = small_generator();
    g.max_target_length = 1;  // the generator learns "__gen__" -> </s>
    CHECK(samples_of(8, g).size() == (size_t)pseudo_sample_count((int)generator_run().tasks[0].train.size(), 0.2f));
    g.max_target_length = 0;
    CHECK_THROWS_WITH(samples_of(8, g), Catch::Contains("generator: max target length must be >= 1 (got 0)"));
}
