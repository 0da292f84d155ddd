# sapt.cpp build. One static library of every module, then small programs on top of it.
#   make            ./train ./tokenize ./generate (CPU)
#   make CUDA=1     adds kernels/cuda compiled by nvcc for sm_80 and sm_90 (SASS + PTX)
#   make test       Catch2 suite (CPU);  make test-emu: CUDA kernels under the CPU emulation
#   make test-cuda  GPU suite (skips with a message where no GPU exists);  make bench: benchmarks
#   make SAN=1 test the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make MPI=1      programs for `mpirun -np N ./train` (data parallel; with CUDA=1 also NCCL);  make test-mpi
#   make WERROR=1   warnings are errors (CI sets it);  make compile_commands.json: for clangd and clang-tidy
# Sources are found by wildcard: a new file in a module folder needs no Makefile edit.

MAKEFLAGS += -j$(shell nproc)

CXX       ?= g++
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
BUILD     ?= build

OPT       ?= -O3 -march=native
WARNINGS  := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
CXXFLAGS  := -std=c++17 $(OPT) -fopenmp $(WARNINGS) -I. -MMD -MP
LDFLAGS   := -fopenmp
LDLIBS    := -lutf8proc -lpthread

ifeq ($(SAN),1)
  BUILD    := $(BUILD)-san
  # the sanitized programs go beside the sanitized suite, not over ./train
  PROGRAM_DIR := $(BUILD)/bin/
  # -g1: line tables only, enough for the sanitizers' stack traces (file:line), and about 20% less compile time
  # than full -g on this code (g++ 12, sapt/continual.cpp)
  # No -Werror here even under WERROR=1: with -fsanitize, g++ can raise flow warnings (maybe-uninitialized,
  # stringop-overflow) on its instrumented code that the plain build does not; this build is for the sanitizers'
  # findings, and the warnings are checked by the plain and emulation builds of the same sources.
  CXXFLAGS := $(filter-out -Werror,$(CXXFLAGS)) -g1 -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
  LDFLAGS  += -fsanitize=address,undefined
endif

MODULES   := engine kernels kernels/cpu models sapt sapt/baselines tokenizer data
LIB_SRCS  := $(foreach m,$(MODULES),$(wildcard $(m)/*.cpp))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
PROGRAMS  := $(patsubst %.cpp,$(PROGRAM_DIR)%,$(wildcard train.cpp tokenize.cpp generate.cpp export.cpp))
TEST_SRCS := $(wildcard tests/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
BENCH_SRCS:= $(filter-out bench/cuda_%.cpp,$(wildcard bench/*.cpp))  # bench/cuda_*: make bench-cuda
BENCH_BINS:= $(BENCH_SRCS:bench/%.cpp=$(BUILD)/bench/%)

# ---- optional parts: reported, never fatal -------------------------------------------------
HAVE_NVCC  := $(shell test -x $(NVCC) && echo yes || echo no)
CUDA_SRCS  := $(wildcard kernels/cuda/*.cu)
ifeq ($(CUDA),1)
  ifeq ($(HAVE_NVCC),yes)
    CUDA_ARCH  := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
    NVCCFLAGS  := -std=c++17 -O3 $(CUDA_ARCH) -I. -Xcompiler -fopenmp,-Wall -DSAPT_CUDA -MMD -MP
    CXXFLAGS   += -DSAPT_CUDA -I$(CUDA_HOME)/include
    LIB_OBJS   += $(CUDA_SRCS:%.cu=$(BUILD)/%.cu.o)
    LDLIBS     += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lcublasLt
  else
    $(warning CUDA=1 asked for, but $(NVCC) was not found: building the CPU backend only)
  endif
endif

# ---- data parallel: `make MPI=1` links engine/mpi/distributed_mpi.cpp, the only file mpicxx compiles,
# into the programs ahead of libsapt.a, so the linker never takes the library's one-process
# engine/distributed.o. The library and the programs' own objects are the same as without MPI.
MPICXX    ?= mpicxx
HAVE_MPI  := $(shell command -v $(MPICXX) >/dev/null 2>&1 && echo yes || echo no)
MPI_FLAGS := -std=c++17 $(OPT) $(WARNINGS) -I. -MMD -MP
MPI_OBJ   := $(BUILD)/mpi/distributed_mpi.o
ifeq ($(CUDA)$(HAVE_NVCC),1yes)
  MPI_FLAGS += -DSAPT_CUDA -I$(CUDA_HOME)/include
  MPI_LIBS  := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lnccl
endif
PROGRAM_LD := $(CXX)
ifeq ($(MPI),1)
  PROGRAM_MPI_OBJ := $(MPI_OBJ)
  PROGRAM_LD      := $(MPICXX)
endif

.PHONY: compile_commands.json all test test-cpu test-mpi cuda-mpi-compile test-emu train-emu test-cuda cuda-compile bench bench-cuda clean info fuzz fuzz-build test-san-fast
all: info $(PROGRAMS)

info:
	@echo "sapt.cpp build: nvcc=$(HAVE_NVCC) ($(NVCC)) CUDA=$(if $(CUDA),$(CUDA),0) SAN=$(if $(SAN),$(SAN),0) WERROR=$(if $(WERROR),$(WERROR),0)"

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/libsapt.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(PROGRAMS): $(PROGRAM_DIR)%: $(BUILD)/%.o $(PROGRAM_MPI_OBJ) $(BUILD)/libsapt.a
	@mkdir -p $(dir $@)
	$(PROGRAM_LD) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(if $(PROGRAM_MPI_OBJ),$(MPI_LIBS))

$(MPI_OBJ): engine/mpi/distributed_mpi.cpp
	@mkdir -p $(dir $@)
	$(MPICXX) $(MPI_FLAGS) -c $< -o $@

# 2 MPI ranks of one thread against 1 process on a cut-down built-in run (equal losses and matrices), then a
# rank killed with -9 stops the other and the run resumes (tests/mpi/two_ranks.sh). The MPI programs go to
# $(BUILD)/mpi/, never over ./train.
test-mpi: $(PROGRAM_DIR)train $(BUILD)/compare_runs
ifeq ($(HAVE_MPI),yes)
	$(MAKE) MPI=1 PROGRAM_DIR=$(BUILD)/mpi/ $(BUILD)/mpi/train
	TRAIN_ONE=./$(PROGRAM_DIR)train TRAIN_MPI=./$(BUILD)/mpi/train COMPARE=./$(BUILD)/compare_runs \
	  bash tests/mpi/two_ranks.sh
else
	@echo "SKIPPED: test-mpi ($(MPICXX) not found: install openmpi-bin libopenmpi-dev)"
endif

# The NCCL path compiled, never run here (it needs a GPU per rank): distributed_mpi.cpp with -DSAPT_CUDA and a
# ./train linked with the CUDA objects of cuda-compile, libnccl and MPI.
cuda-mpi-compile:
ifeq ($(HAVE_NVCC)$(HAVE_MPI),yesyes)
	$(MAKE) CUDA=1 MPI=1 BUILD=$(BUILD)-cuda-check OPT=-O0 PROGRAM_DIR=$(BUILD)-cuda-check/mpi/ $(BUILD)-cuda-check/mpi/train
	@echo "MPI + NCCL ./train compiled and linked in $(BUILD)-cuda-check/mpi (not run: needs GPUs)"
else
	@echo "SKIPPED: MPI + NCCL compile check (needs $(NVCC) and $(MPICXX))"
endif

$(BUILD)/test_all: $(TEST_OBJS) $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# `make test` is what CI runs, one part after the other: the CPU suite, every custom CUDA kernel under
# the CPU emulation, the file-format, kernel and op tests again under ASan + UBSan, and (where nvcc
# exists) a compile of the CUDA backend for sm_80 and sm_90.
# The suite runs from the repo root; tests that need ../shared read SAPT_SHARED (default ../shared).
test:
	$(MAKE) test-cpu
	$(MAKE) test-emu
	$(MAKE) test-mpi
	$(MAKE) test-san-fast
	$(MAKE) cuda-compile
	$(MAKE) cuda-mpi-compile

test-cpu: $(BUILD)/test_all $(PROGRAMS)
	SAPT_PROGRAM_DIR=$(if $(PROGRAM_DIR),$(PROGRAM_DIR),.) ./$(BUILD)/test_all $(TEST_ARGS)

# cuda-compile: every .cu for both architectures (nvcc, device code fully optimised) and a ./train linked
# against them and cuBLAS; the host C++ at -O0 (nothing runs it here), in a folder of its own so that
# test-cuda and bench-cuda never pick up its objects.
cuda-compile:
ifeq ($(HAVE_NVCC),yes)
	$(MAKE) CUDA=1 BUILD=$(BUILD)-cuda-check OPT=-O0 PROGRAM_DIR=$(BUILD)-cuda-check/bin/ $(BUILD)-cuda-check/bin/train
	@echo "CUDA backend compiled for sm_80 and sm_90 (SASS + PTX) and ./train linked with it in $(BUILD)-cuda-check"
else
	@echo "SKIPPED: CUDA compile check ($(NVCC) not found)"
endif

$(BUILD)/bench/%: bench/%.cpp $(BUILD)/libsapt.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $< -o $@ $(BUILD)/libsapt.a $(LDFLAGS) $(LDLIBS)

bench: $(BENCH_BINS) $(PROGRAMS)
	bash bench/run.sh $(BUILD)

# ---- CUDA kernels without a GPU: the same .cu sources compiled by g++ as C++ over the emulation of
# kernels/cuda/cuda_primitives.h, run against the CPU oracle (tests/cuda + tests/emu). Meant for CPU builds.
EMU_BUILD   := $(BUILD)-emu
EMU_FLAGS   := -std=c++17 -O2 -march=native -fopenmp $(WARNINGS) -I. -MMD -MP -DSAPT_CUDA -DSAPT_CUDA_EMU
# The whole library again with the emulation's flags (build-emu/libsapt.a), so that Device::CUDA tensors
# exist everywhere: the device suite runs whole models, and build-emu/train is a ./train whose CUDA device
# is the emulation (make train-emu), so `--device cuda` runs on any machine.
EMU_LIB_OBJS:= $(LIB_SRCS:%.cpp=$(EMU_BUILD)/%.o) $(CUDA_SRCS:%.cu=$(EMU_BUILD)/%.cu.o) \
               $(EMU_BUILD)/kernels/cuda/cuda_emulator.o
EMU_OBJS    := $(patsubst %.cpp,$(EMU_BUILD)/%.o,$(wildcard tests/emu/*.cpp) tests/cuda/test_cuda_kernels.cpp \
                 tests/cuda/test_cuda_end_to_end.cpp tests/cuda/test_load_device_emu.cpp)
CHECK_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/kernel_checks*.cpp))

$(EMU_BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -x c++ -c $< -o $@

$(EMU_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -c $< -o $@

$(EMU_BUILD)/libsapt.a: $(EMU_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(EMU_BUILD)/test_emu: $(EMU_OBJS) $(CHECK_OBJS) $(BUILD)/tests/main.o $(EMU_BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(EMU_BUILD)/train $(EMU_BUILD)/generate: $(EMU_BUILD)/%: $(EMU_BUILD)/%.o $(EMU_BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

train-emu: $(EMU_BUILD)/train $(EMU_BUILD)/generate

# The device suite under the emulation, then the device path of ./train against the CPU path
# (tests/device/train_emu_vs_cpu.sh: equal losses and matrices, and a kill -9 + --resume on the device).
$(BUILD)/compare_runs: tests/device/compare_runs.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O1 $(WARNINGS) $< -o $@

test-emu: $(EMU_BUILD)/test_emu $(EMU_BUILD)/train $(EMU_BUILD)/generate $(PROGRAMS) $(BUILD)/compare_runs
	./$(EMU_BUILD)/test_emu $(EMU_ARGS)
	TRAIN_CPU=./$(PROGRAM_DIR)train TRAIN_EMU=./$(EMU_BUILD)/train GENERATE_CPU=./$(PROGRAM_DIR)generate \
	  GENERATE_EMU=./$(EMU_BUILD)/generate COMPARE=./$(BUILD)/compare_runs \
	  bash tests/device/train_emu_vs_cpu.sh

# ---- the GPU suite and benchmark need CUDA=1 objects: they get a build folder of their own -------------
CUDA_TEST_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/cuda/*.cpp))
ifeq ($(CUDA)$(HAVE_NVCC),1yes)
$(BUILD)/test_cuda: $(CUDA_TEST_OBJS) $(CHECK_OBJS) $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

test-cuda: $(BUILD)/test_cuda
	./$(BUILD)/test_cuda $(TEST_ARGS)

# bench-cuda: the step ./train runs (T5-large, LLaMA-2-7B x 4 layers), then HF transformers + PEFT LoRA, paired and
# recorded (bench/cuda_train_step, the hand-written kernel lab, builds on request only)
bench-cuda: $(BUILD)/bench/cuda_real_step $(BUILD)/bench/record
	bash bench/run_cuda.sh $(BUILD)
else ifeq ($(HAVE_NVCC),yes)
test-cuda bench-cuda:
	$(MAKE) CUDA=1 BUILD=$(BUILD)-cuda $@
else
test-cuda bench-cuda:
	@echo "SKIPPED: $@ needs nvcc ($(NVCC) not found); nothing was built or run on a GPU"
endif

# ---- fuzzing: clang + libFuzzer, every target under ASan + UBSan. `make fuzz` builds fuzz/fuzz_*.cpp into
# build-fuzz/, seeds build-fuzz/corpus/<target>/ with small valid inputs (fuzz/make_seeds.cpp) and runs each
# target for FUZZ_SECONDS. Crash inputs land in build-fuzz/crashes/; once fixed, they go to
# tests/fixtures/fuzz_regressions/<target>/, which the Catch2 suite replays ([bad-inputs]).
FUZZ_CXX      ?= clang++
FUZZ_SECONDS  ?= 60
FUZZ_BUILD    := build-fuzz
FUZZ_FLAGS    := -std=c++17 -g -O1 -fopenmp -Wall -Wextra -I. -MMD -MP -fno-omit-frame-pointer \
                 -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(filter-out sapt/%,$(LIB_SRCS)))  # the formats, not the method
# ... plus the loop checkpoint's state reader (fuzz_loop_state) and the SAPT files its object links against
# (and, for the run-folder readers of fuzz_ask_jsonl and fuzz_run_settings, the rest of sapt/)
FUZZ_LIB_OBJS += $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(filter sapt/%,$(LIB_SRCS)))
FUZZ_NAMES    := $(patsubst fuzz/%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))

$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libsapt.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.cpp $(FUZZ_BUILD)/libsapt.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libsapt.a -o $@ $(LDLIBS)

$(FUZZ_BUILD)/make_seeds: fuzz/make_seeds.cpp $(FUZZ_BUILD)/libsapt.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $< $(FUZZ_BUILD)/libsapt.a -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%) $(FUZZ_BUILD)/make_seeds

fuzz: fuzz-build
	./$(FUZZ_BUILD)/make_seeds $(FUZZ_BUILD)/corpus
	@mkdir -p $(FUZZ_BUILD)/crashes
	set -e; for t in $(FUZZ_NAMES); do \
	  echo "== $$t for $(FUZZ_SECONDS)s"; \
	  ./$(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- $(FUZZ_BUILD)/corpus/$$t; \
	done

# ---- a fast sanitizer pass for CI: the file formats (safetensors, tokenizer, data loaders, the bad-input
# catalogue) plus the kernels and ops, under ASan + UBSan, in a binary of their own so that the other test
# files need no sanitizer build (the whole suite: `make SAN=1 test-cpu`). The library is built in full.
SAN_FAST_SRCS := tests/main.cpp $(wildcard tests/kernel_checks*.cpp) tests/test_safetensors.cpp tests/test_data.cpp \
                 $(wildcard tests/test_tokenizer*.cpp tests/test_bad_inputs*.cpp tests/test_ops*.cpp) tests/test_kernels.cpp

$(BUILD)/test_san_fast: $(SAN_FAST_SRCS:%.cpp=$(BUILD)/%.o) $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

test-san-fast:
	$(MAKE) SAN=1 $(BUILD)-san/test_san_fast
	./$(BUILD)-san/test_san_fast $(TEST_ARGS)

# ---- kill -9 ./train on its default 20 times, resuming each time, against an uninterrupted run (15-30 min;
# not part of `make test`): tests/reliability/kill_resume.sh, with check_run to load every file it leaves.
.PHONY: kill-resume
$(BUILD)/check_run: tests/reliability/check_run.cpp $(BUILD)/libsapt.a
	$(CXX) $(CXXFLAGS) $< -o $@ $(BUILD)/libsapt.a $(LDFLAGS) $(LDLIBS)

kill-resume: train $(BUILD)/check_run
	TRAIN=./train CHECK=$(BUILD)/check_run bash tests/reliability/kill_resume.sh
	TRAIN=./train CHECK=$(BUILD)/check_run KILLS=10 EXTRA_ARGS="--compare all --max-train-per-task 60 \
	  --max-test-per-task 20 --epochs 2 --generator-steps 30" bash tests/reliability/kill_resume.sh

# compile_commands.json for clangd / clang-tidy, from this Makefile's own flags (no bear needed): one entry
# per library, program and test source with the CPU build's command; the .cu files get the emulation's
# (g++ -x c++ -DSAPT_CUDA_EMU), the build in which they are C++ that any C++ tool can read.
compile_commands.json:
	@{ printf "["; sep=""; \
	  for f in $(LIB_SRCS) $(wildcard train.cpp tokenize.cpp generate.cpp export.cpp) $(TEST_SRCS); do \
	    printf '%s\n  {"directory": "%s", "file": "%s", "command": "%s %s -c %s -o %s"}' "$$sep" "$(CURDIR)" \
	      "$$f" "$(CXX)" "$(CXXFLAGS)" "$$f" "$(BUILD)/$${f%.cpp}.o"; sep=","; \
	  done; \
	  for f in $(CUDA_SRCS); do \
	    printf '%s\n  {"directory": "%s", "file": "%s", "command": "%s %s -x c++ -c %s -o %s"}' "$$sep" "$(CURDIR)" \
	      "$$f" "$(CXX)" "$(EMU_FLAGS)" "$$f" "$(EMU_BUILD)/$$f.o"; sep=","; \
	  done; echo; echo "]"; } > $@.tmp && mv $@.tmp $@
	@echo "compile_commands.json: $$(grep -c '"file"' $@) sources"

clean:
	rm -rf build build-san build-emu build-cuda build-cuda-check build-fuzz $(PROGRAMS) compile_commands.json

-include $(MPI_OBJ:.o=.d) $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%.d) $(FUZZ_BUILD)/make_seeds.d $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(patsubst $(PROGRAM_DIR)%,$(BUILD)/%.d,$(PROGRAMS)) $(EMU_OBJS:.o=.d) $(EMU_LIB_OBJS:.o=.d) $(EMU_BUILD)/train.d $(EMU_BUILD)/generate.d $(CUDA_TEST_OBJS:.o=.d)
