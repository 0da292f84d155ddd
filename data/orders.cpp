// orders.cpp — see orders.h.
#include "data/orders.h"

#include "data/cl_benchmark.h"
#include "data/json_file.h"
#include "engine/error.h"

using nlohmann::json;

static const json& orders_object(const json& file, const std::string& path) {
    auto orders = file.is_object() ? file.find("orders") : file.end();
    if (!file.is_object() || orders == file.end() || !orders->is_object()) {
        fail(path, "missing field \"orders\" (expected an object mapping order ids to orders)");
    }
    return *orders;
}

std::vector<std::string> list_order_ids(const std::string& orders_json) {
    json file = read_json_file(orders_json);
    const json& orders = orders_object(file, orders_json);
    std::vector<std::string> ids;
    for (auto it = orders.begin(); it != orders.end(); ++it) ids.push_back(it.key());
    return ids;
}

TaskOrder load_order(const std::string& orders_json, const std::string& order_id) {
    json file = read_json_file(orders_json);
    const json& orders = orders_object(file, orders_json);
    auto it = orders.find(order_id);
    if (it == orders.end()) {
        std::string known;
        for (auto o = orders.begin(); o != orders.end(); ++o) known += (known.empty() ? "" : ", ") + o.key();
        fail(orders_json, "no order \"" + order_id + "\" (expected one of: " + known + ")");
    }
    const std::string where = orders_json + ": order " + order_id;
    const json& entry = *it;
    TaskOrder order;
    order.id = order_id;
    auto benchmark = entry.find("benchmark");
    auto tasks = entry.find("tasks");
    if (benchmark == entry.end() || !benchmark->is_string()) fail(where, "missing string field \"benchmark\"");
    if (tasks == entry.end() || !tasks->is_array() || tasks->empty()) fail(where, "missing field \"tasks\" (expected a non-empty list)");
    order.benchmark = benchmark->get<std::string>();
    for (const json& task : *tasks) {
        if (!task.is_string()) fail(where, "a task name is not a string (got " + std::string(task.type_name()) + ")");
        order.tasks.push_back(task.get<std::string>());
    }
    auto count = entry.find("num_tasks");
    if (count != entry.end() && (!count->is_number_integer() || count->get<size_t>() != order.tasks.size())) {
        fail(where, "\"num_tasks\" disagrees with the task list (expected " + std::to_string(order.tasks.size()) +
                        ", got " + count->dump() + ")");
    }
    return order;
}

OrderTasks order_tasks_with_data(const std::string& root, const std::string& benchmark, const TaskOrder& order,
                                 const std::vector<std::string>& chosen, const LoadOptions& options) {
    for (const std::string& name : chosen) {
        bool known = false;
        for (const std::string& t : order.tasks) known = known || t == name;
        if (!known) fail("--tasks", "'" + name + "' is not a task of order " + order.id);
    }
    OrderTasks result;
    std::vector<std::string> missing_named;  // named in --tasks but without data: "task (file)"
    std::string first_missing_file;
    for (const std::string& name : order.tasks) {
        bool named = false;
        for (const std::string& c : chosen) named = named || c == name;
        if (!chosen.empty() && !named) continue;
        const std::string missing = missing_task_file(root, benchmark, name, options);
        if (missing.empty()) {
            result.names.push_back(name);
        } else if (named) {
            if (first_missing_file.empty()) first_missing_file = missing;
            missing_named.push_back(name);
        } else {
            result.notes.push_back("skipped task " + name + " of order " + order.id + ": " + missing + " is missing");
        }
    }
    if (!missing_named.empty()) {
        std::string names, rest;
        for (const std::string& n : missing_named) names += (names.empty() ? "" : ", ") + n;
        for (const std::string& n : result.names) rest += (rest.empty() ? "" : ",") + n;
        fail(first_missing_file, "missing: --tasks names " + names + ", which has no data here (expected the file; " +
                                     (rest.empty() ? std::string("no named task has data") : "to run without it: --tasks " + rest) + ")");
    }
    if (result.names.empty()) {
        fail(root + "/" + benchmark, "no task of order " + order.id + " has data here (expected e.g. " +
                                         root + "/" + benchmark + "/" + order.tasks[0] + "/train.json)");
    }
    return result;
}

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}
