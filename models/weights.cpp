// weights.cpp — see weights.h.
#include "models/weights.h"

#include "engine/error.h"

bool is_pet_tensor_name(const std::string& name) {
    for (const char* marker : {"lora_", "prompt_key", "trans_input", "previous_"}) {
        if (name.find(marker) != std::string::npos) return true;
    }
    return false;
}

Tensor take_weight(WeightLoad& load, const std::string& name, const std::vector<int64_t>& shape) {
    auto it = load.remaining.find(name);
    if (it == load.remaining.end()) {
        load.missing.push_back(name);
        return Tensor{};
    }
    Tensor t = it->second;
    load.remaining.erase(it);
    if (t.shape() != shape) {
        load.wrong_shapes.push_back(name + " (expected " + shape_str(shape) + ", got " + shape_str(t.shape()) + ")");
        return Tensor{};
    }
    if (t.dtype() == DType::BF16 && t.ndim() == 1) t = tensor_to_f32(t);  // norms take an F32 gain
    if (t.dtype() != DType::F32 && t.dtype() != DType::BF16) {
        load.wrong_shapes.push_back(name + " (expected a floating dtype, got " + dtype_name(t.dtype()) + ")");
        return Tensor{};
    }
    t.data->requires_grad = false;
    t.data->name = name;
    return t;
}

Tensor take_aliased_weight(WeightLoad& load, const std::vector<std::string>& names, const std::vector<int64_t>& shape) {
    Tensor found;
    bool taken = false;
    for (const std::string& name : names) {
        if (!taken && load.remaining.count(name)) {
            found = take_weight(load, name, shape);
            taken = true;
        } else {
            load.remaining.erase(name);
        }
    }
    if (!taken) load.missing.push_back(names[0]);
    return found;
}

static std::string join_names(const std::vector<std::string>& names) {
    const size_t shown = 20;  // a 7B checkpoint of the wrong family would list hundreds
    std::string out;
    for (size_t i = 0; i < names.size() && i < shown; i++) out += (i ? ", " : "") + names[i];
    if (names.size() > shown) out += ", ... (" + std::to_string(names.size()) + " in all)";
    return out;
}

void finish_weight_load(WeightLoad& load, const std::vector<std::string>& ignored_substrings,
                        WeightMap* extra_tensors) {
    std::vector<std::string> unexpected;
    for (auto& [name, tensor] : load.remaining) {
        if (is_pet_tensor_name(name)) {
            if (extra_tensors) (*extra_tensors)[name] = tensor;
            continue;
        }
        bool ignored = false;
        for (const std::string& part : ignored_substrings) ignored = ignored || name.find(part) != std::string::npos;
        if (!ignored) unexpected.push_back(name);
    }
    load.remaining.clear();
    std::string problems;
    if (!load.missing.empty()) problems += "missing tensors: " + join_names(load.missing);
    if (!load.wrong_shapes.empty())
        problems +=
            std::string(problems.empty() ? "" : "; ") + "wrongly shaped tensors: " + join_names(load.wrong_shapes);
    if (!unexpected.empty())
        problems += std::string(problems.empty() ? "" : "; ") + "unexpected tensors: " + join_names(unexpected);
    if (!problems.empty()) fail(load.where, problems);
}
