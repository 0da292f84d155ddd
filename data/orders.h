// orders.h — task orders for the continual-learning runs, read from orders.json (shared/data/CL_Benchmark),
// which transcribes the orders of SAPT's, O-LoRA's and GainLoRA's scripts under ids of our own
// (e.g. "superni_order1", "long15_starts_yelp"). Not here: loading the tasks themselves (cl_benchmark.h).
#pragma once
#include <string>
#include <vector>

struct TaskOrder {
    std::string id;
    std::string benchmark;           // "SuperNI" or "Long_Sequence"
    std::vector<std::string> tasks;  // task folder names, first task first
};

TaskOrder load_order(const std::string& orders_json, const std::string& order_id);
std::vector<std::string> list_order_ids(const std::string& orders_json);
