// What tests read back from running meshcast processes: an HTTP GET on the tracker's port
// (/metrics, /api/...), a Prometheus counter from it, and the last line of a --stats file.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "tests/integration/common/test_processes.hpp"

namespace meshcast::testing {

// GET `path` from 127.0.0.1:port (HTTP/1.0, the body after the head), "" on failure.
inline std::string http_get(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, size_t(n));
    }
  }
  close(fd);
  auto body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

// A counter or gauge from Prometheus text ("name" or "name{labels}"), -1 when absent.
inline long metric(const std::string& text, const std::string& name) {
  std::smatch m;
  const std::regex re("(^|\n)" + std::regex_replace(name, std::regex(R"([{}"])"), R"(\$&)") +
                      " ([0-9]+)");
  return std::regex_search(text, m, re) ? std::stol(m[2]) : -1;
}

// The last complete JSON line of a `--stats` file (an empty object when there is none).
inline nlohmann::json last_stats(const std::filesystem::path& file) {
  std::istringstream in(read_text(file));
  nlohmann::json last = nlohmann::json::object();
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) last = std::move(j);
  }
  return last;
}

}  // namespace meshcast::testing
