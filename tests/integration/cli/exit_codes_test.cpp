// The exit codes of docs/operations.md, one real `meshcast` process per code, against a
// tracker process on a free 127.0.0.1 port.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/common/test_processes.hpp"

namespace {

using meshcast::testing::Process;
namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string err;
};

class ExitCodes : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshcast-exit-codes-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const std::string port = std::to_string(meshcast::testing::free_port());
    ASSERT_TRUE(tracker_.start(
        {MESHCAST_EXE, "tracker", "--listen", "127.0.0.1:" + port, "--quiet"}, dir_ / "tracker"));
    for (int i = 0; i < 500 && tracker_.out().find("listening on") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_NE(tracker_.out().find("listening on"), std::string::npos) << tracker_.err();
    url_ = "ws://127.0.0.1:" + port + "/ws";
  }
  void TearDown() override {
    background_.clear();  // each stops its process group
    tracker_.stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs meshcast with `args` to completion (killed after timeout_s).
  Result run(std::vector<std::string> args, int timeout_s = 30) {
    args.insert(args.begin(), MESHCAST_EXE);
    Process p;
    Result r;
    if (!p.start(args, dir_ / ("run-" + std::to_string(++runs_)))) return r;
    auto st = p.wait(timeout_s * 1000);
    if (!st) p.stop();
    r.code = st ? *st : -1;
    r.err = p.err();
    return r;
  }
  // A broadcaster in the background for `seconds`, registered when this returns.
  void broadcast(const std::string& stream, const std::string& id, int seconds) {
    background_.push_back(std::make_unique<Process>());
    ASSERT_TRUE(background_.back()->start(
        {MESHCAST_EXE, "broadcast", "--tracker", url_, "--stream", stream, "--id", id,
         "--synthetic", "--quiet", "--duration", std::to_string(seconds)},
        dir_ / ("broadcast-" + id)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the tracker answers in ms
  }
  fs::path dir_;
  Process tracker_;
  std::vector<std::unique_ptr<Process>> background_;
  std::string url_;
  int runs_ = 0;
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

// A watch that never played: the stream exists but its broadcaster is frozen (SIGSTOP), so no
// link ever connects. Ending with 0 would hide that from scripts.
TEST_F(ExitCodes, AWatchThatPlayedNothingIs8) {
  broadcast("frozen", "broadcaster-frozen", 30);
  ASSERT_EQ(::kill(-background_.back()->pid(), SIGSTOP), 0);
  Result r = run({"watch", "--tracker", url_, "--stream", "frozen", "--out", "null", "--quiet",
                  "--duration", "4"});
  ::kill(-background_.back()->pid(), SIGCONT);
  EXPECT_EQ(r.code, 8) << r.err;
  EXPECT_NE(r.err.find("nothing played"), std::string::npos) << r.err;
}

// A call whose link can never connect (one side gathers only 127.0.0.1, the other only ::1):
// neither side may report success.
TEST_F(ExitCodes, ACallThatNeverConnectedIsNotASuccess) {
  background_.push_back(std::make_unique<Process>());
  Process& bob = *background_.back();
  ASSERT_TRUE(bob.start({MESHCAST_EXE, "call", "--tracker", url_, "--id", "bob-v6", "--answer",
                         "--local-address", "::1", "--audio-source", "test", "--audio-sink", "null",
                         "--quiet", "--known-peers", (dir_ / "bob-known").string()},
                        dir_ / "bob"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Result alice =
      run({"call", "--tracker", url_, "--id", "alice-v4", "--to", "bob-v6", "--local-address",
           "127.0.0.1", "--audio-source", "test", "--audio-sink", "null", "--quiet", "--duration",
           "5", "--known-peers", (dir_ / "alice-known").string()},
          60);
  EXPECT_NE(alice.code, 0) << alice.err;
  EXPECT_NE(alice.code, -1) << "alice did not finish: " << alice.err;
  auto st = bob.wait(20'000);
  ASSERT_TRUE(st) << "bob still running: " << bob.err();
  EXPECT_NE(*st, 0) << bob.err();
}

// Ctrl-C before anything played (the broadcaster is frozen): interrupted, not "no media".
TEST_F(ExitCodes, InterruptedBeforeAnythingPlayedIs130) {
  broadcast("frozen-int", "broadcaster-frozen-int", 30);
  ASSERT_EQ(::kill(-background_.back()->pid(), SIGSTOP), 0);
  Process w;
  ASSERT_TRUE(w.start({MESHCAST_EXE, "watch", "--tracker", url_, "--stream", "frozen-int", "--out",
                       "null", "--quiet", "--duration", "30"},
                      dir_ / "interrupted"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ::kill(w.pid(), SIGINT);
  auto st = w.wait(10'000);
  ::kill(-background_.back()->pid(), SIGCONT);
  ASSERT_TRUE(st) << "watch ignored SIGINT";
  EXPECT_EQ(*st, 130) << w.err();
}
