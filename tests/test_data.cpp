// test_data.cpp — the CL_Benchmark loader, the official prompt strings (shared/fixtures/prompts, or the
// folder in SAPT_PROMPT_FIXTURES), task orders, Python's random draw, and the errors a broken file gives.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "data/python_random.h"
#include "data/templates.h"
#include "engine/error.h"
#include "tests/test_util.h"

using nlohmann::json;

static std::string prompt_fixture() {
    const char* dir = std::getenv("SAPT_PROMPT_FIXTURES");
    if (dir && *dir) {
        std::string path = std::string(dir) + "/prompts.jsonl";
        if (!path_exists(path)) FAIL("SAPT_PROMPT_FIXTURES is set but " << path << " does not exist");
        return path;
    }
    return shared_path("fixtures/prompts/prompts.jsonl");
}

// Runs `load` and returns the sapt_error message ("" if nothing was thrown).
static std::string error_of(const std::function<void()>& load) {
    try {
        load();
    } catch (const sapt_error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("every prompt fixture record: official prompt, label and references", "[data]") {
    std::string fixture = prompt_fixture();
    std::string data_root = shared_path("data");
    if (fixture.empty() || data_root.empty()) return;
    std::ifstream in(fixture);
    REQUIRE(in.good());
    LoadOptions official;
    official.compat_official = true;
    std::map<std::string, SplitFile> official_files, default_files;
    size_t records = 0, matched = 0;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        json r = json::parse(line);
        records++;
        std::string path = data_root + "/" + r["dataset_root"].get<std::string>() + "/" + r["benchmark"].get<std::string>() +
                           "/" + r["task"].get<std::string>() + "/" + r["split"].get<std::string>() + ".json";
        Benchmark benchmark = benchmark_from_name(r["benchmark"]);
        if (!official_files.count(path)) {
            official_files[path] = read_split_file(path, benchmark, official);
            default_files[path] = read_split_file(path, benchmark);
        }
        size_t index = r["index"];
        REQUIRE(index < official_files[path].instances.size());
        const Instance& inst = official_files[path].instances[index];
        const Instance& plain = default_files[path].instances[index];
        std::vector<std::string> references = r["references"];
        bool ok = inst.prompt == r["source_t5"].get<std::string>() && inst.prompt == r["prompt_llama"].get<std::string>() &&
                  inst.label == r["target_t5"].get<std::string>() &&
                  inst.label + "</s>" == r["label_llama"].get<std::string>() &&
                  inst.prompt + inst.label + "</s>" == r["full_llama"].get<std::string>() && inst.outputs == references &&
                  std::to_string(inst.index) == r["instance_id"].get<std::string>() &&
                  (inst.outputs.size() > 1) == r["label_is_random_choice"].get<bool>() &&
                  plain.prompt == inst.prompt && plain.label == references[0];
        if (ok) {
            matched++;
        } else {
            UNSCOPED_INFO(path << " #" << index << ": prompt " << json(inst.prompt) << " label " << json(inst.label));
        }
    }
    WARN("prompts.jsonl: " << matched << " / " << records << " records matched");
    REQUIRE(records > 0);
    CHECK(matched == records);
}

struct ExpectedCounts {
    const char* task;
    size_t train, test;  // 0 = file missing in the released data
};

TEST_CASE("every SuperNI task loads with the README counts, dev = test", "[data]") {
    std::string root = shared_path("data/CL_Benchmark");
    if (root.empty()) return;
    const ExpectedCounts tasks[] = {
        {"task002_quoref_answer_generation", 1000, 100},       {"task073_commonsenseqa_answer_generation", 975, 100},
        {"task1290_xsum_summarization", 1000, 100},            {"task1510_evalution_relation_extraction", 1000, 100},
        {"task1572_samsum_summary", 160, 20},                  {"task1590_diplomacy_text_generation", 126, 16},
        {"task1687_sentiment140_classification", 1000, 100},  {"task1729_personachat_generate_next", 1000, 100},
        {"task181_outcome_extraction", 338, 43},               {"task363_sst2_polarity_classification", 1000, 100},
        {"task511_reddit_tifu_long_text_summarization", 1000, 100}, {"task591_sciq_answer_generation", 1000, 100},
        {"task639_multi_woz_user_utterance_generation", 142, 18}, {"task748_glucose_reverse_cause_event_detection", 1000, 100},
        {"task875_emotion_classification", 1000, 100},
    };
    for (const auto& expected : tasks) {
        Task task = load_task(root, "SuperNI", expected.task);
        INFO(expected.task);
        CHECK(task.train.size() == expected.train);
        CHECK(task.test.size() == expected.test);
        CHECK(task.dev.size() == task.test.size());
        CHECK(task.labels.empty());
        CHECK(task.definition.rfind("Definition", 0) != 0);  // the stored definition has no template text
        REQUIRE(!task.test.empty());
        CHECK(task.test[0].prompt.rfind("Definition: " + task.definition + "\n\n", 0) == 0);
        CHECK(task.test[0].id.rfind("task", 0) == 0);  // SuperNI keeps its own ids
    }
    // Several references: 17 of quoref's 100 test instances; the default label is the first reference.
    Task quoref = load_task(root, "SuperNI", "task002_quoref_answer_generation");
    size_t several = 0;
    for (const Instance& inst : quoref.test) {
        several += inst.outputs.size() > 1;
        CHECK(inst.label == inst.outputs[0]);
    }
    CHECK(several == 17);
}

TEST_CASE("every Long_Sequence task loads: counts, labels.json, and the documented missing files", "[data]") {
    std::string root = shared_path("data/CL_Benchmark");
    if (root.empty()) return;
    const ExpectedCounts with_both[] = {
        {"agnews", 4000, 7600}, {"amazon", 5000, 7600}, {"boolq", 2000, 3270}, {"cb", 250, 56},
        {"copa", 400, 100},     {"mnli", 3000, 7600},   {"qqp", 2000, 7600},   {"rte", 2000, 277},
        {"sst2", 2000, 872},    {"wic", 2000, 638},
    };
    const std::map<std::string, size_t> label_counts = {
        {"agnews", 4}, {"amazon", 5}, {"boolq", 2}, {"cb", 3}, {"copa", 2}, {"dbpedia", 14}, {"imdb", 2},
        {"mnli", 3},   {"multirc", 2}, {"qqp", 2}, {"rte", 2}, {"sst2", 2},  {"wic", 2},     {"yelp", 5}};
    for (const auto& expected : with_both) {
        Task task = load_task(root, "Long_Sequence", expected.task);
        INFO(expected.task);
        CHECK(task.train.size() == expected.train);
        CHECK(task.test.size() == expected.test);
        CHECK(task.dev.size() == expected.test);
        CHECK(task.labels.size() == label_counts.at(expected.task));
        CHECK(task.test[0].id == "0");  // no ids in Long_Sequence files: str(index), as the official loader
        // Every gold output is one of the labels, except the two quirks the data README documents.
        std::string name = expected.task;
        for (const Instance& inst : task.test) {
            REQUIRE(inst.outputs.size() == 1);
            bool known = std::find(task.labels.begin(), task.labels.end(), inst.label) != task.labels.end();
            if (name == "qqp") known = inst.label == "yes" || inst.label == "no";
            if (name == "mnli" && inst.label == "-") known = true;
            if (!known) FAIL(name << ": output " << json(inst.label) << " is not a label");
        }
    }
    CHECK(load_task(root, "Long_Sequence", "amazon").labels ==
          std::vector<std::string>{"very negative", "negative", "neutral", "positive", "very positive"});
    // copa's Definition list is empty: its prompts start with the input itself.
    Task copa = load_task(root, "Long_Sequence", "copa");
    CHECK(copa.definition.empty());
    CHECK(copa.test[0].prompt == copa.test[0].input + "\nOutput: ");

    // imdb, multirc, yelp: no test.json → every 10th train instance is held out as test (and dev).
    for (const char* name : {"imdb", "multirc", "yelp"}) {
        Task task = load_task(root, "Long_Sequence", name);
        INFO(name);
        CHECK(task.train.size() + task.test.size() == (std::string(name) == "yelp" ? 5000u : 2000u));
        CHECK(task.labels.size() == label_counts.at(name));
    }
    // dbpedia: test only; yahoo: labels only.
    std::string dbpedia_error = error_of([&] { load_task(root, "Long_Sequence", "dbpedia"); });
    CHECK(dbpedia_error.find("dbpedia/train.json") != std::string::npos);
    LoadOptions eval_only;
    eval_only.allow_missing_train = true;
    Task dbpedia = load_task(root, "Long_Sequence", "dbpedia", eval_only);
    CHECK(dbpedia.train.empty());
    CHECK(dbpedia.test.size() == 7600);
    CHECK(dbpedia.labels.size() == 14);
    std::string yahoo_error = error_of([&] { load_task(root, "Long_Sequence", "yahoo", eval_only); });
    CHECK(yahoo_error.find("yahoo") != std::string::npos);
    CHECK(yahoo_error.find("neither train.json nor test.json") != std::string::npos);
}

TEST_CASE("missing test.json: a deterministic held-out slice of train, or an error on request", "[data]") {
    std::string root = shared_path("data/CL_Benchmark");
    if (root.empty()) return;
    Task imdb = load_task(root, "Long_Sequence", "imdb");
    REQUIRE(imdb.test.size() == 200);
    CHECK(imdb.train.size() == 1800);
    CHECK(imdb.test[0].index == 9);  // train.json positions 9, 19, 29, ...
    CHECK(imdb.test[1].index == 19);
    CHECK(imdb.train[9].index == 10);
    CHECK(imdb.dev.size() == 200);
    bool noted = false;
    for (const std::string& note : imdb.notes) noted |= note.find("imdb/test.json is missing") != std::string::npos;
    CHECK(noted);
    Task again = load_task(root, "Long_Sequence", "imdb");
    CHECK(again.test[57].input == imdb.test[57].input);

    LoadOptions strict;
    strict.require_test_file = true;
    std::string error = error_of([&] { load_task(root, "Long_Sequence", "imdb", strict); });
    CHECK(error.find("imdb/test.json") != std::string::npos);
    CHECK(load_task(root, "Long_Sequence", "cb", strict).test.size() == 56);
}

// A scratch root <dir> with empty task folders SuperNI/bad and Long_Sequence/bad; removed afterwards.
struct ScratchTask {
    std::string dir;
    std::vector<std::string> files;
    ScratchTask() {
        char name[] = "/tmp/sapt_test_data_XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        dir = name;
        for (const char* sub : {"/SuperNI", "/SuperNI/bad", "/Long_Sequence", "/Long_Sequence/bad"}) {
            REQUIRE(mkdir((dir + sub).c_str(), 0700) == 0);
        }
    }
    ~ScratchTask() {
        for (const std::string& f : files) std::remove(f.c_str());
        for (const char* sub : {"/SuperNI/bad", "/SuperNI", "/Long_Sequence/bad", "/Long_Sequence", ""}) {
            rmdir((dir + sub).c_str());
        }
    }
    void write(const std::string& relative, const std::string& text) {
        std::string path = dir + "/" + relative;
        std::ofstream out(path, std::ios::binary);
        out << text;
        files.push_back(path);
    }
};

TEST_CASE("malformed files give errors that name the file and say what is wrong", "[data]") {
    ScratchTask scratch;
    const std::string good_test = R"({"Definition": ["d"], "Instances": [{"id": "x", "input": "i", "output": ["o"]}]})";
    scratch.write("SuperNI/bad/test.json", good_test);
    struct Case {
        const char* what;
        std::string train_text;
        const char* message;
    };
    const Case cases[] = {
        {"syntax error", R"({"Definition": ["d"], "Instances": [)", "not valid JSON"},
        {"not UTF-8", std::string("{\"Definition\": [\"d\xff\"], \"Instances\": []}"), "not UTF-8"},
        {"no Instances", R"({"Definition": ["d"]})", "missing field \"Instances\""},
        {"no Definition", R"({"Instances": [{"input": "i", "output": "o"}]})", "missing field \"Definition\""},
        {"empty Definition", R"({"Definition": [], "Instances": [{"input": "i", "output": "o"}]})", "\"Definition\" is empty"},
        {"no instances", R"({"Definition": ["d"], "Instances": []})", "no instances"},
        {"no input", R"({"Definition": ["d"], "Instances": [{"output": "o"}]})", "instance 0: missing field \"input\""},
        {"no output", R"({"Definition": ["d"], "Instances": [{"input": "i"}, {"input": "j"}]})", "instance 0: missing field \"output\""},
        {"output number", R"({"Definition": ["d"], "Instances": [{"input": "i", "output": 3}]})", "\"output\" has the wrong type"},
        {"empty output list", R"({"Definition": ["d"], "Instances": [{"input": "i", "output": []}]})", "empty list"},
        {"top-level list", R"([1, 2])", "wrong top-level type"},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        scratch.write("SuperNI/bad/train.json", c.train_text);
        std::string error = error_of([&] { load_task(scratch.dir, "SuperNI", "bad"); });
        CHECK(error.find(scratch.dir + "/SuperNI/bad/train.json") == 0);
        CHECK(error.find(c.message) != std::string::npos);
    }
    scratch.write("Long_Sequence/bad/train.json", R"({"Definition": [], "Instances": [{"input": "i", "output": "A"}]})");
    scratch.write("Long_Sequence/bad/test.json", R"({"Definition": [], "Instances": [{"input": "i", "output": "A"}]})");
    scratch.write("Long_Sequence/bad/labels.json", R"({"A": 1})");
    std::string error = error_of([&] { load_task(scratch.dir, "Long_Sequence", "bad"); });
    CHECK(error.find(scratch.dir + "/Long_Sequence/bad/labels.json") == 0);
    CHECK(error_of([&] { load_task(scratch.dir, "SuperNI", "absent"); }).find("no such task folder") != std::string::npos);
    CHECK(error_of([&] { load_task(scratch.dir, "superni", "bad"); }).find("unknown benchmark") != std::string::npos);
}

TEST_CASE("task orders come from orders.json by id", "[data]") {
    std::string orders = shared_path("data/CL_Benchmark/orders.json");
    std::string root = shared_path("data/CL_Benchmark");
    if (orders.empty() || root.empty()) return;
    TaskOrder first = load_order(orders, "superni_order1");
    CHECK(first.benchmark == "SuperNI");
    REQUIRE(first.tasks.size() == 15);
    CHECK(first.tasks.front() == "task1572_samsum_summary");
    CHECK(first.tasks.back() == "task875_emotion_classification");
    CHECK(load_order(orders, "long15_starts_yelp").tasks[0] == "yelp");
    std::vector<std::string> ids = list_order_ids(orders);
    CHECK(ids.size() == 7);
    for (const std::string& id : ids) {  // every task of every order is a folder of its benchmark
        TaskOrder order = load_order(orders, id);
        for (const std::string& task : order.tasks) CHECK(path_exists(root + "/" + order.benchmark + "/" + task));
    }
    std::string error = error_of([&] { load_order(orders, "order9"); });
    CHECK(error.find("no order \"order9\"") != std::string::npos);
    CHECK(error.find("superni_order2") != std::string::npos);
}

TEST_CASE("Python's random: seed, getrandbits and randint draws equal CPython's", "[data]") {
    const std::string path = "tests/fixtures/data/python_random_draws.json";  // tests/reference/python_random_draws.py
    std::ifstream in(path);
    INFO(path << " is read relative to the repository root, where the suite runs");
    REQUIRE(in.good());
    json fixture = json::parse(in);
    REQUIRE(fixture["cases"].size() == 4);
    for (const json& c : fixture["cases"]) {
        uint64_t seed = c["seed"];
        INFO("seed " << seed);
        PythonRandom words = python_random_seeded(seed);
        for (const json& w : c["getrandbits32"]) CHECK(python_getrandbits(words, 32) == w.get<uint32_t>());
        PythonRandom draws = python_random_seeded(seed);
        std::vector<int> sizes = c["sizes"], expected = c["randint_0_n_minus_1"];
        size_t same = 0;
        for (size_t i = 0; i < sizes.size(); i++) same += python_randint(draws, 0, sizes[i] - 1) == expected[i];
        CHECK(same == sizes.size());
    }
    PythonRandom rng = python_random_seeded(42);
    CHECK_THROWS_AS(python_randint(rng, 0, -1), sapt_error);  // Python: "empty range for randrange()"
}

TEST_CASE("templates: official format quirk with braces, byte-exact concatenation otherwise", "[data]") {
    std::string prefix = prompt_prefix(Benchmark::super_ni, "Answer {x}.", true);
    CHECK(fill_prompt(prefix, "in", false) ==
          "Definition: Answer {x}.\n\nNow complete the following example -\nInput: in\nOutput: ");
    // str.format cannot parse "{x}" → the collator swallows the error and returns the unfilled template.
    CHECK(fill_prompt(prefix, "in", true) ==
          "Definition: Answer {x}.\n\nNow complete the following example -\nInput: {0}\nOutput: ");
    CHECK(fill_prompt(prompt_prefix(Benchmark::long_sequence, "Use {{braces}}", true), "{in}", true) ==
          "Use {braces}\n{in}\nOutput: ");
    CHECK(prompt_prefix(Benchmark::long_sequence, "", false).empty());
}

// A toy tokenizer: one id per byte, so token counts are byte counts and decode is exact.
static PromptTokenizer byte_tokenizer(int n_special_after) {
    PromptTokenizer t;
    t.encode = [](const std::string& s) { return std::vector<int>(s.begin(), s.end()); };
    t.decode = [](const std::vector<int>& ids) { return std::string(ids.begin(), ids.end()); };
    t.n_special_after = n_special_after;
    return t;
}

TEST_CASE("long prompts: ours keeps the template, the official cuts lose 'Output: '", "[data]") {
    std::string prefix = prompt_prefix(Benchmark::super_ni, "Summarize.", true);
    std::string input = "one two three four five six seven eight nine ten \xC3\xA9l\xC3\xA8ve";
    std::string prompt = fill_prompt(prefix, input, false);
    PromptTokenizer t5 = byte_tokenizer(1);
    int max_tokens = (int)prefix.size() + 20 + 9 + 1;  // room for 20 input bytes, "\nOutput: " and </s>

    std::vector<int> ours = encode_prompt(prompt, input, max_tokens, t5, PromptCut::keep_template);
    std::string ours_text(ours.begin(), ours.end());
    CHECK(ours_text == prefix + input.substr(0, 20) + "\nOutput: ");
    CHECK((int)ours.size() + 1 <= max_tokens);

    std::vector<int> official = encode_prompt(prompt, input, max_tokens, t5, PromptCut::official_t5);
    CHECK((int)official.size() == max_tokens - 1);
    CHECK(std::string(official.begin(), official.end()) == prompt.substr(0, max_tokens - 1));

    std::vector<int> llama = encode_prompt(prompt, input, max_tokens, byte_tokenizer(0), PromptCut::official_llama);
    CHECK(std::string(llama.begin(), llama.end()) == prompt.substr(0, max_tokens));

    // A cut never splits a UTF-8 character: "è" is two bytes and the limit falls between them.
    int inside_e_grave = (int)(prefix.size() + input.size() - 3) + 9 + 1;
    std::string cut = shorten_prompt_input(prompt, input, inside_e_grave, t5);
    CHECK(cut == prefix + input.substr(0, input.size() - 4) + "\nOutput: ");  // ends in "él"
    // Short prompts come back whole in every mode.
    for (PromptCut mode : {PromptCut::keep_template, PromptCut::official_t5, PromptCut::official_llama}) {
        CHECK(encode_prompt(prompt, input, 10000, t5, mode).size() == prompt.size());
    }
    CHECK_THROWS_AS(encode_prompt(prompt, input, 1, t5, PromptCut::keep_template), sapt_error);
}
