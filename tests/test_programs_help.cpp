// test_programs_help.cpp — every program of the tree answers --help: ./train, ./generate, ./export and
// ./tokenize print their usage to stdout and exit 0, also where --help stands in the place of a flag's
// value, and an unknown flag exits 1 naming it. The programs are found through SAPT_PROGRAM_DIR (default:
// the repo root). Not here: what the flags do (each program's own tests).
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/fileio.h"

namespace {

struct ProgramRun {
    int exit_code = -1;
    std::string out, err;
};

std::string program_file(const std::string& program) {
    const char* dir = std::getenv("SAPT_PROGRAM_DIR");
    return std::string(dir && *dir ? dir : ".") + "/" + program;
}

// Runs the program with `args` (at most 60 s), stdout and stderr kept apart.
ProgramRun run_with_args(const std::string& program, const std::string& args) {
    const std::string log = std::filesystem::temp_directory_path().string() + "/sapt_help_" +
                            std::to_string(getpid()) + "_" + program;
    const std::string command =
        "timeout 60 " + program_file(program) + " " + args + " > " + log + ".stdout 2> " + log + ".stderr";
    const int status = std::system(command.c_str());
    ProgramRun run;
    run.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = read_file(log + ".stdout");
    run.err = read_file(log + ".stderr");
    std::filesystem::remove(log + ".stdout");
    std::filesystem::remove(log + ".stderr");
    return run;
}

struct ProgramHelp {
    std::string program;
    std::vector<std::string> flags_in_help;  // a few flags its usage must list
    std::string flag_with_value;             // a flag that takes a value, to put --help in that value's place
};

const std::vector<ProgramHelp>& programs() {
    static const std::vector<ProgramHelp> list = {
        {"train", {"--data", "--method", "--compat", "--resume"}, "--out"},
        {"generate", {"--run", "--prompt", "--input", "--top-p"}, "--prompt"},
        {"export", {"--run", "--to", "--method"}, "--run"},
        {"tokenize", {"--model", "--pieces", "--decode"}, "--model"},
    };
    return list;
}

}  // namespace

TEST_CASE("Every program prints its usage on --help and -h, to stdout, and exits 0", "[programs-help]") {
    for (const ProgramHelp& p : programs()) {
        INFO(p.program);
        REQUIRE(std::filesystem::exists(program_file(p.program)));  // built by make (test-cpu depends on it)
        for (const char* asked : {"--help", "-h"}) {
            INFO(asked);
            const ProgramRun run = run_with_args(p.program, asked);
            CHECK(run.exit_code == 0);
            CHECK(run.err.empty());
            CHECK_THAT(run.out, Catch::Contains("usage: ./" + p.program));
            for (const std::string& flag : p.flags_in_help) CHECK_THAT(run.out, Catch::Contains(flag));
        }
    }
}

TEST_CASE("--help in the place of a flag's value still prints the usage", "[programs-help]") {
    for (const ProgramHelp& p : programs()) {
        INFO(p.program << " " << p.flag_with_value << " --help");
        const ProgramRun run = run_with_args(p.program, p.flag_with_value + " --help");
        CHECK(run.exit_code == 0);
        CHECK_THAT(run.out, Catch::Contains("usage: ./" + p.program));
    }
}

TEST_CASE("An unknown flag exits 1 and names the flag", "[programs-help]") {
    for (const ProgramHelp& p : programs()) {
        INFO(p.program);
        const ProgramRun run = run_with_args(p.program, "--no-such-flag x");
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.err, Catch::Contains("--no-such-flag"));
    }
}
