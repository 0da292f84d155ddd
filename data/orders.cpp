// orders.cpp — see orders.h.
#include "data/orders.h"

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
