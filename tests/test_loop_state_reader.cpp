// test_loop_state_reader.cpp — the loop checkpoint's state reader (sapt/checkpoint.h) on damaged states: each
// is refused with a sapt_error naming the file and what is wrong, where it once was accepted and then read
// out of bounds on resume (or cast a float out of int range). The states fuzz_loop_state found are replayed
// from tests/fixtures/fuzz_regressions/fuzz_loop_state by test_bad_inputs.cpp; here, the messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "sapt/checkpoint.h"

namespace {

// A valid state inside task 2 of 2: task 1 done, a data order of 4 examples.
nlohmann::json valid_state() {
    return nlohmann::json::parse(R"({"completed": 1, "global_rng": "5 3", "in_task": true,
        "matrix": [[90.0, null], [null, null]], "method": "sapt",
        "position": {"data_rng": "7 9", "epoch": 0, "micro_steps": 2, "next_batch": 2, "order": [3, 1, 0, 2], "step": 2},
        "pseudo": [[{"input": "x", "prompt": "p x"}], []], "tasks": ["a", "b"], "weights": [[[1.0], []], []]})");
}

std::string refusal(const nlohmann::json& state) {
    try {
        loop_state_from_json(state.dump(), "run/checkpoint.safetensors");
    } catch (const sapt_error& e) {
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("A valid loop state reads back and writes the same text", "[reliability]") {
    const LoopState loop = loop_state_from_json(valid_state().dump(), "state");
    CHECK(loop.completed == 1);
    CHECK(loop.position.order == std::vector<int>{3, 1, 0, 2});
    const std::string written = loop_state_to_json(loop);
    CHECK(loop_state_to_json(loop_state_from_json(written, "state")) == written);
}

TEST_CASE("Damaged loop states are refused with the file and the problem named", "[reliability]") {
    nlohmann::json s = valid_state();
    s["completed"] = 1e300;  // once a float -> int cast out of range (undefined behaviour)
    CHECK_THAT(refusal(s), Catch::Contains("run/checkpoint.safetensors") && Catch::Contains("'completed' must be an integer in 0..2"));
    s = valid_state();
    s["completed"] = 3;
    CHECK_THAT(refusal(s), Catch::Contains("'completed' must be an integer in 0..2 (got 3)"));
    s = valid_state();
    s["position"]["order"] = {6, 0, 3, 1};  // once accepted: the trainer indexed examples with it
    CHECK_THAT(refusal(s), Catch::Contains("the data order must be a permutation of 0..3"));
    s["position"]["order"] = {1, 1, 0, 2};
    CHECK_THAT(refusal(s), Catch::Contains("permutation"));
    s = valid_state();
    s["position"]["next_batch"] = -1;
    CHECK_THAT(refusal(s), Catch::Contains("'next_batch' must be an integer"));
    s = valid_state();
    s["matrix"] = {{90.0}};  // once accepted: the loop wrote a[j][i] past the rows
    CHECK_THAT(refusal(s), Catch::Contains("the matrix must be 2 rows of 2 numbers"));
    s = valid_state();
    s["matrix"][0][0] = "90";
    CHECK_THAT(refusal(s), Catch::Contains("matrix holds a non-number"));
    s = valid_state();
    s["pseudo"] = nlohmann::json::array();
    CHECK_THAT(refusal(s), Catch::Contains("one entry per task"));
    s = valid_state();
    s["completed"] = 2;  // in_task after the last task
    CHECK_THAT(refusal(s), Catch::Contains("in_task after the last task"));
    s = valid_state();
    s["global_rng"] = "1 2";
    CHECK_THAT(refusal(s), Catch::Contains("RNG increment must be odd"));
    CHECK_THAT(refusal(nlohmann::json::array()), Catch::Contains("malformed loop.state metadata"));
}
