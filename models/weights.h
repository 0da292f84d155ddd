// weights.h — turning a checkpoint's name -> tensor map into a model's fields, with one report of
// everything wrong: missing tensors, wrongly shaped ones, and unexpected ones. Tensors that belong to a
// PET method (LoRA, SAPT keys and projector, previous tasks' adapters) are not errors: they are handed
// back to the caller. Not here: reading files (checkpoint.h) or any architecture's names (t5/llama_weights).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

using WeightMap = std::map<std::string, Tensor>;

// What a loader is doing to one checkpoint: the tensors not taken yet and the problems found so far.
struct WeightLoad {
    std::string where;  // the checkpoint path, for messages
    WeightMap remaining;
    std::vector<std::string> missing;
    std::vector<std::string> wrong_shapes;  // "name (expected (a, b), got (c, d))"
};

// Takes `name` out of load.remaining, checks its shape and brings it into the form the ops use:
// F32 stays as it is (a view into the mapped file when it came from one), a BF16 matrix stays BF16
// (linear and embedding read it directly), a BF16 vector (a norm gain) becomes F32. Frozen:
// requires_grad false. Returns an undefined tensor and records the problem when absent or misshaped.
Tensor take_weight(WeightLoad& load, const std::string& name, const std::vector<int64_t>& shape);

// The first of `names` that is present (aliases of one tensor, e.g. T5's shared / embed_tokens), taken
// with take_weight; the other names are dropped from remaining. Records names[0] as missing if none is.
Tensor take_aliased_weight(WeightLoad& load, const std::vector<std::string>& names, const std::vector<int64_t>& shape);

// True for names a PET method owns: "lora_", "prompt_key", "trans_input", "previous_".
bool is_pet_tensor_name(const std::string& name);

// Ends the load: PET tensors left in remaining move to *extra_tensors (dropped when it is null), names
// matching one of `ignored_substrings` (buffers HF recomputes) are dropped, and if anything is missing,
// misshaped or unexpected, throws one sapt_error naming them all.
void finish_weight_load(WeightLoad& load, const std::vector<std::string>& ignored_substrings, WeightMap* extra_tensors);
