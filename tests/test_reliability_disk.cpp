// test_reliability_disk.cpp — failed writes (ENOSPC, EIO, EROFS, EDQUOT) of a checkpoint, a log, a report or the
// backbone cache: a clear error naming the file and the cause, the previous file intact and loadable, no
// temporary file left, and a resumed run that ends as an uninterrupted one. Failures are injected through
// fileio_fail_writes_after (engine/fileio.h) at several points, and met for real on a small tmpfs.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "engine/safetensors.h"
#include "reliability_util.h"
#include "sapt/report.h"
#include "tiny_run_util.h"

namespace {

struct Fault {
    long long after_bytes;
    int error_number;
    WriteStage stage;
};

// Disarms the injected failure however the case ends, so that no later test meets a "full disk".
struct FaultScope {
    explicit FaultScope(const Fault& f) { fileio_fail_writes_after(f.after_bytes, f.error_number, f.stage); }
    ~FaultScope() { fileio_stop_failing_writes(); }
};

template <typename Action>
std::string failure_message(const Fault& fault, Action action) {
    FaultScope scope(fault);
    try {
        action();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

const char* stage_name(WriteStage stage) {
    return stage == WriteStage::Write ? "write" : stage == WriteStage::Fsync ? "fsync" : "rename";
}

}  // namespace

TEST_CASE("a failed write, fsync or rename names the file and the cause, keeps the previous file and leaves no "
          "temporary", "[reliability]") {
    const std::string dir = reliability_dir("atomic_faults");
    const std::string path = dir + "/state.safetensors";
    const std::vector<std::pair<std::string, Tensor>> old_tensors = {{"w", tensor_full({4, 4}, 1.0f)}};
    const std::vector<std::pair<std::string, Tensor>> new_tensors = {{"w", tensor_full({64, 64}, 2.0f)}};
    safetensors_save(path, old_tensors, {{"version", "old"}});
    const std::string before = read_file(path);
    for (const Fault& fault : {Fault{0, ENOSPC, WriteStage::Write}, Fault{1000, EDQUOT, WriteStage::Write},
                               Fault{0, EIO, WriteStage::Fsync}, Fault{0, EROFS, WriteStage::Rename}}) {
        INFO(stage_name(fault.stage) << " " << std::strerror(fault.error_number));
        const std::string message = failure_message(fault, [&] { safetensors_save(path, new_tensors, {{"version", "new"}}); });
        CHECK_THAT(message, Catch::StartsWith(path + ": "));
        CHECK_THAT(message, Catch::Contains(std::strerror(fault.error_number)));
        CHECK(read_file(path) == before);
        CHECK(safetensors_open(path).metadata.at("version") == "old");
        CHECK(temporaries_under(dir).empty());

        const std::string text(4000, ' ');  // beyond the 1000 bytes of the second fault
        const std::string text_message = failure_message(fault, [&] { atomic_write_file(dir + "/a.json", text); });
        CHECK_THAT(text_message, Catch::Contains(dir + "/a.json: "));
        CHECK_FALSE(std::filesystem::exists(dir + "/a.json"));
    }
    append_to_file(dir + "/log.jsonl", "{\"line\": 1}\n");
    const std::string log_message = failure_message(Fault{0, ENOSPC, WriteStage::Write},
                                                    [&] { append_to_file(dir + "/log.jsonl", "{\"line\": 2}\n"); });
    CHECK(log_message == dir + "/log.jsonl: cannot append (" + std::strerror(ENOSPC) + ")");
    CHECK(read_file(dir + "/log.jsonl") == "{\"line\": 1}\n");
    CHECK(temporaries_under(dir).empty());
}

TEST_CASE("a run whose writes fail at several points stops naming the file and the cause; its last checkpoint "
          "loads and the resumed run ends as an uninterrupted one", "[reliability]") {
    TinyRun s = make_tiny_run("disk_faults", 2, 5, 6);
    ContinualOptions plain = tiny_run_options(s.root + "/whole", 3);
    plain.train.checkpoint_every = 1;
    const ContinualResult whole = run_continual(s.model, s.tokenizer, s.tasks, plain);
    const long long checkpoint_bytes = (long long)std::filesystem::file_size(checkpoint_path(s.root + "/whole"));
    // The first log line; inside the first checkpoint; the third checkpoint's commit; a later checkpoint.
    const std::vector<Fault> faults = {{0, ENOSPC, WriteStage::Write},
                                       {checkpoint_bytes / 2, EIO, WriteStage::Fsync},
                                       {3 * checkpoint_bytes, EROFS, WriteStage::Rename},
                                       {6 * checkpoint_bytes, EDQUOT, WriteStage::Write}};
    int with_checkpoint = 0;
    for (size_t k = 0; k < faults.size(); k++) {
        const Fault& fault = faults[k];
        INFO("fault after " << fault.after_bytes << " bytes at " << stage_name(fault.stage) << ": "
                            << std::strerror(fault.error_number));
        const std::string out = s.root + "/fault" + std::to_string(k);
        ContinualOptions options = tiny_run_options(out, 3);
        options.train.checkpoint_every = 1;
        const std::string message = failure_message(fault, [&] { run_continual(s.model, s.tokenizer, s.tasks, options); });
        CHECK_THAT(message, Catch::StartsWith(out + "/"));
        CHECK_THAT(message, Catch::Contains(std::strerror(fault.error_number)));
        CHECK(temporaries_under(out).empty());
        if (std::filesystem::exists(checkpoint_path(out))) {
            with_checkpoint++;
            const SafeTensorsFile checkpoint = safetensors_open(checkpoint_path(out));
            CHECK_NOTHROW(loop_state_from_json(checkpoint.metadata.at("loop.state"), out));
        }
        ContinualOptions resume = options;
        resume.resume = true;
        const ContinualResult resumed = run_continual(s.model, s.tokenizer, s.tasks, resume);
        for (size_t j = 0; j < whole.matrix.size(); j++) {
            for (size_t i = 0; i <= j; i++) CHECK(resumed.matrix[j][i] == whole.matrix[j][i]);
        }
    }
    CHECK(with_checkpoint >= 2);  // the later faults met an earlier checkpoint, which the resume continued from
    std::filesystem::remove_all(s.root);
}

TEST_CASE("a report whose writes fail leaves each file whole, old or new, and names the file and the cause",
          "[reliability]") {
    TinyRun s = make_tiny_run("report_faults", 2, 5, 6);
    RunReport report;
    report.title = "first";
    for (const Task& t : s.tasks) report.tasks.push_back(t.name);
    MethodRun run;
    run.method = "sapt";
    run.result = run_continual(s.model, s.tokenizer, s.tasks, tiny_run_options("", 3));
    run.scores = score_run(run.result, {}, false);
    report.runs.push_back(run);
    const std::string dir = s.root + "/report", fresh = s.root + "/fresh";
    std::filesystem::create_directories(dir);
    std::filesystem::create_directories(fresh);
    write_report(dir, report);
    const auto old_files = snapshot_of(dir);
    report.title = "second";
    report.runs[0].result.matrix[1][0] = 12.5;
    write_report(fresh, report);
    const auto new_files = snapshot_of(fresh);
    long long total = 0;
    for (const auto& [name, bytes] : new_files) total += (long long)bytes.size();
    for (long long after : {0LL, total / 3, 2 * total / 3}) {  // the first file; one in the middle; a later one
        INFO("fault after " << after << " bytes");
        const std::string message = failure_message(Fault{after, ENOSPC, WriteStage::Write}, [&] { write_report(dir, report); });
        CHECK_THAT(message, Catch::StartsWith(dir + "/"));
        CHECK_THAT(message, Catch::Contains(std::strerror(ENOSPC)));
        for (const auto& [name, bytes] : snapshot_of(dir)) {
            INFO(name);
            CHECK((bytes == old_files.at(name) || bytes == new_files.at(name)));
        }
    }
    std::filesystem::remove_all(s.root);
}

TEST_CASE("a failed write of the backbone cache leaves no cache that looks complete; the next run builds it",
          "[reliability]") {
    const std::string dir = reliability_dir("cache_faults");
    BuiltinOptions o;
    o.train_per_task = 10;
    o.test_per_task = 2;
    o.vocab_size = 300;
    o.d_model = 16;
    o.d_kv = 4;
    o.d_ff = 32;
    o.layers = 1;
    o.pretrain_steps = 2;
    o.pretrain_batch = 4;
    const BuiltinBackbone clean = prepare_builtin_backbone(o, dir + "/clean", false);
    const std::string weights = read_file(clean.model_dir + "/model.safetensors");
    for (const Fault& fault : {Fault{0, ENOSPC, WriteStage::Write}, Fault{(long long)weights.size() / 2, EIO, WriteStage::Write}}) {
        const std::string cache = dir + "/cache" + std::to_string(fault.after_bytes);
        const std::string message = failure_message(fault, [&] { prepare_builtin_backbone(o, cache, false); });
        CHECK_THAT(message, Catch::StartsWith(cache + "/"));
        CHECK_THAT(message, Catch::Contains(std::strerror(fault.error_number)));
        CHECK_FALSE(std::filesystem::exists(cache + "/config.json"));  // the mark of a complete cache
        CHECK(temporaries_under(cache).empty());
        const BuiltinBackbone rebuilt = prepare_builtin_backbone(o, cache, false);
        CHECK(rebuilt.built_now);
        CHECK(read_file(cache + "/model.safetensors") == weights);
    }
}

TEST_CASE("./train on a full tmpfs stops naming the file and 'No space left on device', keeps its checkpoint, "
          "and resumes to the uninterrupted results once space is free", "[reliability]") {
    const std::string dir = reliability_dir("tmpfs");
    const std::string mount_point = dir + "/small";
    std::filesystem::create_directories(mount_point);
    if (std::system(("mount -t tmpfs -o size=8m tmpfs " + mount_point + " 2>/dev/null").c_str()) != 0) {
        WARN("skipped: mounting a tmpfs was refused (needs root); the injected failures above still ran");
        return;
    }
    struct Unmount {
        std::string point;
        ~Unmount() { std::system(("umount " + point).c_str()); }
    } unmount{mount_point};
    const std::string out = mount_point + "/run";
    std::vector<std::string> args = small_builtin_args(out);
    args.insert(args.end(), {"--stop-after", "1"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    const std::string checkpoint = out + "/sapt/checkpoint.safetensors";
    const std::string before = read_file(checkpoint);

    // Fill the file system, then free two pages: room for log lines, not for a checkpoint.
    const std::string filler = mount_point + "/filler";
    {
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(fd >= 0);
        const std::string chunk(1 << 16, 'x');
        while (::write(fd, chunk.data(), chunk.size()) > 0) {}
        ::close(fd);
        std::filesystem::resize_file(filler, std::filesystem::file_size(filler) - 8192);
    }
    const int status = run_program("train", {"--resume", out}, dir, &output);
    INFO(output);
    CHECK(status == 1);
    CHECK_THAT(output, Catch::Contains(out + "/"));
    CHECK_THAT(output, Catch::Contains("No space left on device"));
    CHECK(read_file(checkpoint) == before);
    CHECK_NOTHROW(safetensors_open(checkpoint));
    CHECK(temporaries_under(out).empty());

    std::filesystem::remove(filler);
    REQUIRE(run_program("train", {"--resume", out}, dir, &output) == 0);
    CHECK(report_matrices(out) == reference_matrices());
}
