// json_file.h — read a whole JSON file with nlohmann::json, turning every failure (missing file, bytes
// that are not UTF-8, a syntax error) into a sapt_error that names the file. Shared by the data loaders.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

nlohmann::json read_json_file(const std::string& path);
bool file_exists(const std::string& path);
bool directory_exists(const std::string& path);
