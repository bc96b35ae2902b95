// Tiny option parser shared by subcommands: --name value, --name=value, --flag.
#pragma once
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace meshcast::app {

class Args {
 public:
  // `flags` take no value; `options` take one. Anything else is a usage error.
  Args(int argc, char** argv, std::set<std::string> flags, std::set<std::string> options);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool help() const { return has("help"); }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& def = "") const;
  // Every value of an option given several times, in command-line order (get() = the last).
  std::vector<std::string> get_all(const std::string& name) const;
  // Numeric getters record a usage error on bad input instead of throwing.
  long get_int(const std::string& name, long def, long min, long max);
  double get_double(const std::string& name, double def, double min, double max);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positional_;
  std::string error_;
};

}  // namespace meshcast::app
