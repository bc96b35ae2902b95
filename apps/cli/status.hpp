// Live status output shared by long-running commands: one line updated in
// place on a terminal, plain periodic lines otherwise, nothing with --quiet.
#pragma once
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "mesh/base/expected.hpp"

namespace meshcast::app {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

// Parses "error|warn|info|debug"; returns false on anything else.
bool parse_log_level(const std::string& s, LogLevel* out);
void set_log_level(LogLevel level);
LogLevel log_level();
// Applies --log-level (default warn); returns a usage error message or "".
std::string apply_log_level_option(const std::string& value, bool given);
void log_msg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

class StatusLine {
 public:
  explicit StatusLine(bool quiet, FILE* out = stderr);
  ~StatusLine();
  void update(const std::string& line);  // call about once a second
  void finish();                         // end the in-place line before other output
  bool interactive() const { return tty_; }

 private:
  bool quiet_;
  FILE* out_;
  bool tty_;
  bool open_line_ = false;
};

// Appends one JSON object per line; opened lazily, flushed per line so a
// killed process loses at most the last line.
class StatsWriter {
 public:
  StatsWriter() = default;
  Expected<void, std::string> open(const std::string& path);
  bool enabled() const { return out_.is_open(); }
  void write(const nlohmann::json& j);

 private:
  std::ofstream out_;
};

}  // namespace meshcast::app
