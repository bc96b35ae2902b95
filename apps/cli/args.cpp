#include "apps/cli/args.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace meshcast::app {
namespace {
// "0.5", not std::to_string's "0.500000", in messages users read.
std::string shortest(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

Args::Args(int argc, char** argv, std::set<std::string> flags, std::set<std::string> options) {
  flags.insert("help");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h") a = "--help";
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (flags.count(name)) {
      if (inline_value) {
        error_ = "option --" + name + " takes no value";
        return;
      }
      values_[name] = "1";
    } else if (options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) {
          error_ = "option --" + name + " needs a value";
          return;
        }
        value = argv[++i];
      }
      values_[name] = value;
      all_values_[name].push_back(value);
    } else {
      error_ = "unknown option --" + name;
      return;
    }
  }
}

std::string Args::get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

long Args::get_int(const std::string& name, long def, long min, long max) {
  if (!has(name)) return def;
  const std::string& s = values_[name];
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < min || v > max) {
    if (error_.empty())
      error_ = "--" + name + " must be an integer in [" + std::to_string(min) + ", " +
               std::to_string(max) + "], got '" + s + "'";
    return def;
  }
  return v;
}

double Args::get_double(const std::string& name, double def, double min, double max) {
  if (!has(name)) return def;
  const std::string& s = values_[name];
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !(v >= min && v <= max)) {
    if (error_.empty())
      error_ = "--" + name + " must be a number in [" + shortest(min) + ", " + shortest(max) +
               "], got '" + s + "'";
    return def;
  }
  return v;
}

}  // namespace meshcast::app
