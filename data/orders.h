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

// The tasks of `order` a run trains: those named in `chosen` (every task when empty, in the order's order)
// whose data is there (cl_benchmark.h: missing_task_file). A task without data is skipped with a note naming
// the missing file, except one named in `chosen`: skipping it would change the asked experiment, so that is
// an error naming the file and the --tasks that would run without it. A name in `chosen` outside the order,
// or an order with no task left, is an error too.
struct OrderTasks {
    std::vector<std::string> names;  // the tasks to load, first task first
    std::vector<std::string> notes;  // one line per skipped task
};
struct LoadOptions;
OrderTasks order_tasks_with_data(const std::string& root, const std::string& benchmark, const TaskOrder& order,
                                 const std::vector<std::string>& chosen, const LoadOptions& options);

TaskOrder load_order(const std::string& orders_json, const std::string& order_id);

// "a,b,,c" -> {"a", "b", "c"}: the comma lists of --tasks, --method, --import-adapters.
std::vector<std::string> split_commas(const std::string& text);
std::vector<std::string> list_order_ids(const std::string& orders_json);
