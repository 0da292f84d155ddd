# sapt.cpp build. One static library of every module, then small programs on top of it.
#   make            ./train ./tokenize ./generate (CPU)
#   make CUDA=1     adds kernels/cuda compiled by nvcc for sm_80 and sm_90 (SASS + PTX)
#   make test       Catch2 suite (CPU);  make test-emu: CUDA kernels under the CPU emulation
#   make test-cuda  GPU suite (skips with a message where no GPU exists);  make bench: benchmarks
#   make SAN=1 test the suite under AddressSanitizer + UndefinedBehaviorSanitizer
# Sources are found by wildcard: a new file in a module folder needs no Makefile edit.

MAKEFLAGS += -j$(shell nproc)

CXX       ?= g++
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
BUILD     ?= build

OPT       ?= -O3 -march=native
CXXFLAGS  := -std=c++17 $(OPT) -fopenmp -Wall -Wextra -I. -MMD -MP
LDFLAGS   := -fopenmp
LDLIBS    := -lutf8proc -lpthread

ifeq ($(SAN),1)
  BUILD    := $(BUILD)-san
  CXXFLAGS += -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS  += -fsanitize=address,undefined
endif

MODULES   := engine kernels kernels/cpu models sapt tokenizer data
LIB_SRCS  := $(foreach m,$(MODULES),$(wildcard $(m)/*.cpp))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
PROGRAMS  := $(patsubst %.cpp,%,$(wildcard train.cpp tokenize.cpp generate.cpp))
TEST_SRCS := $(wildcard tests/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
BENCH_SRCS:= $(filter-out bench/cuda_%.cpp,$(wildcard bench/*.cpp))  # bench/cuda_*: make bench-cuda
BENCH_BINS:= $(BENCH_SRCS:bench/%.cpp=$(BUILD)/bench/%)

# ---- optional parts: reported, never fatal -------------------------------------------------
HAVE_NVCC  := $(shell test -x $(NVCC) && echo yes || echo no)
HAVE_CUDNN := $(shell (test -f $(CUDA_HOME)/include/cudnn.h || test -f /usr/include/cudnn.h) && echo yes || echo no)
CUDA_SRCS  := $(wildcard kernels/cuda/*.cu)
ifeq ($(CUDA),1)
  ifeq ($(HAVE_NVCC),yes)
    CUDA_ARCH  := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
    NVCCFLAGS  := -std=c++17 -O3 $(CUDA_ARCH) -I. -Xcompiler -fopenmp,-Wall -DSAPT_CUDA
    CXXFLAGS   += -DSAPT_CUDA -I$(CUDA_HOME)/include
    LIB_OBJS   += $(CUDA_SRCS:%.cu=$(BUILD)/%.cu.o)
    LDLIBS     += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lcublasLt
    ifeq ($(HAVE_CUDNN),yes)
      NVCCFLAGS += -DSAPT_CUDNN
      CXXFLAGS  += -DSAPT_CUDNN
      LDLIBS    += -lcudnn
    endif
  else
    $(warning CUDA=1 asked for, but $(NVCC) was not found: building the CPU backend only)
  endif
endif

.PHONY: all test test-emu test-cuda bench bench-cuda clean info fuzz
all: info $(PROGRAMS)

info:
	@echo "sapt.cpp build: nvcc=$(HAVE_NVCC) ($(NVCC)) cudnn=$(HAVE_CUDNN) CUDA=$(if $(CUDA),$(CUDA),0) SAN=$(if $(SAN),$(SAN),0)"

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/libsapt.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(PROGRAMS): %: $(BUILD)/%.o $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_all: $(TEST_OBJS) $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The suite runs from the repo root; tests that need ../shared read SAPT_SHARED (default ../shared).
test: $(BUILD)/test_all $(PROGRAMS)
	./$(BUILD)/test_all $(TEST_ARGS)

$(BUILD)/bench/%: bench/%.cpp $(BUILD)/libsapt.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $< -o $@ $(BUILD)/libsapt.a $(LDFLAGS) $(LDLIBS)

bench: $(BENCH_BINS) $(PROGRAMS)
	bash bench/run.sh $(BUILD)

# ---- CUDA kernels without a GPU: the same .cu sources compiled by g++ as C++ over the emulation of
# kernels/cuda/cuda_primitives.h, run against the CPU oracle (tests/cuda + tests/emu). Meant for CPU builds.
EMU_BUILD   := $(BUILD)-emu
EMU_FLAGS   := -std=c++17 -O2 -march=native -fopenmp -Wall -Wextra -I. -MMD -MP -DSAPT_CUDA -DSAPT_CUDA_EMU
EMU_OBJS    := $(CUDA_SRCS:%.cu=$(EMU_BUILD)/%.cu.o) $(EMU_BUILD)/kernels/cuda/cuda_emulator.o \
               $(patsubst %.cpp,$(EMU_BUILD)/%.o,$(wildcard tests/emu/*.cpp) tests/cuda/test_cuda_kernels.cpp)
CHECK_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/kernel_checks*.cpp))

$(EMU_BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -x c++ -c $< -o $@

$(EMU_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -c $< -o $@

$(EMU_BUILD)/test_emu: $(EMU_OBJS) $(CHECK_OBJS) $(BUILD)/tests/main.o $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

test-emu: $(EMU_BUILD)/test_emu
	./$(EMU_BUILD)/test_emu $(EMU_ARGS)

# ---- the GPU suite and benchmark need CUDA=1 objects: they get a build folder of their own -------------
CUDA_TEST_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/cuda/*.cpp))
ifeq ($(CUDA)$(HAVE_NVCC),1yes)
$(BUILD)/test_cuda: $(CUDA_TEST_OBJS) $(CHECK_OBJS) $(BUILD)/libsapt.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

test-cuda: $(BUILD)/test_cuda
	./$(BUILD)/test_cuda $(TEST_ARGS)

bench-cuda: $(BUILD)/bench/cuda_train_step
	./$(BUILD)/bench/cuda_train_step
else ifeq ($(HAVE_NVCC),yes)
test-cuda bench-cuda:
	$(MAKE) CUDA=1 BUILD=$(BUILD)-cuda $@
else
test-cuda bench-cuda:
	@echo "SKIPPED: $@ needs nvcc ($(NVCC) not found); nothing was built or run on a GPU"
endif

clean:
	rm -rf build build-san build-emu build-cuda build-cuda-emu $(PROGRAMS)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(PROGRAMS:%=$(BUILD)/%.d) $(EMU_OBJS:.o=.d) $(CUDA_TEST_OBJS:.o=.d)
