#include "apps/cli/status.hpp"

#include <unistd.h>

#include <cstdarg>

namespace meshcast::app {

static LogLevel g_level = LogLevel::Warn;

bool parse_log_level(const std::string& s, LogLevel* out) {
  if (s == "error")
    *out = LogLevel::Error;
  else if (s == "warn")
    *out = LogLevel::Warn;
  else if (s == "info")
    *out = LogLevel::Info;
  else if (s == "debug")
    *out = LogLevel::Debug;
  else
    return false;
  return true;
}
void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

std::string apply_log_level_option(const std::string& value, bool given) {
  LogLevel lvl = LogLevel::Warn;
  if (given && !parse_log_level(value, &lvl))
    return "--log-level must be error, warn, info or debug";
  set_log_level(lvl);
  return "";
}

void log_msg(LogLevel level, const char* fmt, ...) {
  if (level > g_level) return;
  static const char* names[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "meshcast %s: ", names[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

StatusLine::StatusLine(bool quiet, FILE* out)
    : quiet_(quiet), out_(out), tty_(isatty(fileno(out)) == 1) {}

StatusLine::~StatusLine() { finish(); }

void StatusLine::update(const std::string& line) {
  if (quiet_) return;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", line.c_str());
    open_line_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void StatusLine::finish() {
  if (open_line_) {
    std::fputc('\n', out_);
    std::fflush(out_);
    open_line_ = false;
  }
}

Expected<void, std::string> StatsWriter::open(const std::string& path) {
  out_.open(path, std::ios::out | std::ios::trunc);
  if (!out_.is_open()) return unexpected("cannot open stats file '" + path + "' for writing");
  return {};
}

void StatsWriter::write(const nlohmann::json& j) {
  if (!out_.is_open()) return;
  out_ << j.dump() << '\n';
  out_.flush();
}

}  // namespace meshcast::app
