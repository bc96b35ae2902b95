// The exit codes of docs/operations.md, one real `meshcast` process per code, against a
// tracker process on an ephemeral 127.0.0.1 port.
#include <glib.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

struct Result {
  int code = -1;
  std::string err;
};

// Runs meshcast with `args` (bounded by `timeout_s` through coreutils' timeout).
Result run(std::vector<std::string> args, int timeout_s = 30) {
  args.insert(args.begin(), {"timeout", "-s", "KILL", std::to_string(timeout_s), MESHCAST_EXE});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Result r;
  gchar* err = nullptr;
  gint status = 0;
  GError* e = nullptr;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, nullptr,
                    &err, &status, &e)) {
    r.err = e ? e->message : "spawn failed";
    if (e) g_error_free(e);
    return r;
  }
  r.err = err ? err : "";
  g_free(err);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

class ExitCodes : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string exe = MESHCAST_EXE;
    std::vector<char*> argv = {exe.data(),
                               const_cast<char*>("tracker"),
                               const_cast<char*>("--listen"),
                               const_cast<char*>("127.0.0.1:0"),
                               const_cast<char*>("--quiet"),
                               nullptr};
    gint out = -1;
    ASSERT_TRUE(g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr,
                                         nullptr, &pid_, nullptr, &out, nullptr, nullptr));
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos) {
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, size_t(n));
    }
    out_ = out;
    const auto at = text.find("ws://");
    ASSERT_NE(at, std::string::npos) << text;
    url_ = text.substr(at, text.find_first_of(" \n", at) - at);
  }
  void TearDown() override {
    for (GPid p : children_) kill(p, SIGKILL);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }
  // A broadcaster in the background for `seconds`.
  void broadcast(const std::string& stream, const std::string& id, int seconds) {
    std::string exe = MESHCAST_EXE, dur = std::to_string(seconds);
    std::vector<std::string> args = {exe,           "broadcast", "--tracker",  url_,
                                     "--stream",    stream,      "--id",       id,
                                     "--synthetic", "--quiet",   "--duration", dur};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    GPid pid = 0;
    ASSERT_TRUE(g_spawn_async(nullptr, argv.data(), nullptr, G_SPAWN_STDERR_TO_DEV_NULL, nullptr,
                              nullptr, &pid, nullptr));
    children_.push_back(pid);
    g_usleep(1'500'000);  // registered (the tracker answers in milliseconds)
  }
  GPid pid_ = 0;
  int out_ = -1;
  std::string url_;
  std::vector<GPid> children_;
};

}  // namespace

TEST_F(ExitCodes, BadCommandLineIs2) {
  EXPECT_EQ(run({"watch", "--no-such-option"}).code, 2);
  Result r = run({"watch", "--tracker", "ws://[bad", "--stream", "s", "--out", "null"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad tracker URL"), std::string::npos) << r.err;
  EXPECT_EQ(run({"broadcast", "--tracker", "ftp://x", "--stream", "s", "--synthetic"}).code, 2);
  // A recording into a folder that does not exist fails at once, not after the run.
  r = run({"watch", "--tracker", url_, "--stream", "s", "--out", "/nonexistent-dir/x.webm"}, 10);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

TEST_F(ExitCodes, NoSuchStreamIs4AndAUrlWithoutPathWorks) {
  // As users type it: no /ws.
  const std::string bare = url_.substr(0, url_.rfind("/ws"));
  Result r = run({"watch", "--tracker", bare, "--stream", "nosuch", "--out", "null", "--quiet"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.err.find("no stream named"), std::string::npos) << r.err;
}

TEST_F(ExitCodes, UnreachableTrackerIs4) {
  Result r = run(
      {"watch", "--tracker", "ws://127.0.0.1:1/ws", "--stream", "s", "--out", "null", "--quiet"});
  EXPECT_EQ(r.code, 4) << r.err;
}

TEST_F(ExitCodes, NameTakenAndStreamTakenAre3) {
  broadcast("taken", "broadcaster-taken", 20);
  Result id = run({"broadcast", "--tracker", url_, "--stream", "other", "--id", "broadcaster-taken",
                   "--synthetic", "--quiet", "--duration", "5"});
  EXPECT_EQ(id.code, 3) << id.err;
  Result stream = run({"broadcast", "--tracker", url_, "--stream", "taken", "--id", "second",
                       "--synthetic", "--quiet", "--duration", "5"});
  EXPECT_EQ(stream.code, 3) << stream.err;
}

TEST_F(ExitCodes, AWatchThatRanItsDurationIs0) {
  broadcast("fine", "broadcaster-fine", 20);
  Result r = run({"watch", "--tracker", url_, "--stream", "fine", "--out", "null", "--quiet",
                  "--duration", "3"});
  EXPECT_EQ(r.code, 0) << r.err;
}
