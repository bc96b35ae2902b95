// Two real peers call each other through a real tracker over loopback: invitation,
// acceptance, ICE + DTLS-SRTP, Opus both ways. 440 Hz one way, 880 Hz the other.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "apps/cli/loop.hpp"
#include "apps/command.hpp"
#include "apps/session/call_session.hpp"
#include "media/common/audio_analysis.hpp"
#include "signaling/tracker_server.hpp"

using namespace meshcast;
using namespace meshcast::app;

namespace {

std::string tmp(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("meshcast_call_" + std::to_string(getpid()) + "_" + name))
      .string();
}

struct CallPair {
  std::unique_ptr<signaling::TrackerServer> tracker;
  std::unique_ptr<CallSession> alice, bob;
  std::string alice_wav = tmp("alice.wav"), bob_wav = tmp("bob.wav");
  std::string alice_end, bob_end;
  int alice_code = -1, bob_code = -1;

  void start(double loss, const std::string& bob_source = "test:880", bool bob_answers = true) {
    signaling::TrackerServerOptions to;
    to.port = 0;
    to.log_level = signaling::LogLevel::kError;
    tracker = std::make_unique<signaling::TrackerServer>(to);
    std::string err;
    ASSERT_TRUE(tracker->start(&err)) << err;
    CallOptions b;
    b.tracker_url = tracker->ws_url();
    b.self_id = "bob";
    b.auto_answer = bob_answers;
    b.accept_from = {"alice"};
    b.audio_tx.source = bob_source;
    b.audio_rx.sink = "file:" + bob_wav;
    b.impairment.drop = loss;
    b.impairment.seed = 11;
    bob = std::make_unique<CallSession>(nullptr, b, link::Certificate::process_default());
    bob->set_on_end([this](const std::string& m, int c) {
      bob_end = m;
      bob_code = c;
    });
    bob->start();
    MainLoop loop;
    ASSERT_TRUE(loop.run_until([&] { return bob->phase() == CallPhase::kWaiting; }, 5000));
    CallOptions a = b;
    a.self_id = "alice";
    a.to = "bob";
    a.auto_answer = false;
    a.accept_from = {};
    a.audio_tx.source = "test:440";
    a.audio_rx.sink = "file:" + alice_wav;
    a.impairment.seed = 12;
    a.ring_timeout_ms = 3000;
    alice = std::make_unique<CallSession>(nullptr, a, link::Certificate::process_default());
    alice->set_on_end([this](const std::string& m, int c) {
      alice_end = m;
      alice_code = c;
    });
    alice->start();
  }
  bool both_in_call() const {
    return alice->phase() == CallPhase::kInCall && bob->phase() == CallPhase::kInCall;
  }
  ~CallPair() {
    alice.reset();
    bob.reset();
    std::filesystem::remove(alice_wav);
    std::filesystem::remove(bob_wav);
  }
};

void expect_tone(const std::string& wav, double hz, double call_s) {
  auto w = media::read_wav_file(wav);
  ASSERT_TRUE(w) << wav;
  auto mono = w->mono();
  double seconds = double(mono.size()) / w->sample_rate;
  EXPECT_NEAR(media::dominant_frequency(mono, w->sample_rate), hz, hz * 0.03) << wav;
  // Audible for at least 90 % of the call (the file may hold a little more).
  EXPECT_GE(media::audible_fraction(mono, w->sample_rate) * seconds, 0.9 * call_s) << wav;
}

}  // namespace

TEST(Call, TonesFlowBothWays) {
  CallPair p;
  p.start(0);
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return p.both_in_call(); }, 8000))
      << p.alice_end << " / " << p.bob_end;
  loop.run(6);
  auto as = p.alice->stats_json(), bs = p.bob->stats_json();
  p.alice->hangup();
  // Bob hears the hang-up through the tracker and ends cleanly.
  ASSERT_TRUE(loop.run_until([&] { return p.bob_code != -1; }, 5000));
  EXPECT_EQ(p.bob_code, kExitOk);
  EXPECT_NE(p.bob_end.find("hung up"), std::string::npos) << p.bob_end;
  p.bob->stop_media();
  expect_tone(p.alice_wav, 880, 6);  // alice hears bob
  expect_tone(p.bob_wav, 440, 6);    // bob hears alice
  EXPECT_EQ(as["srtp_auth_failures"].get<uint64_t>(), 0u);
  // No loss on this link: nearly every frame is real data (a loaded machine may stall playout).
  EXPECT_GE(bs["data_fraction"].get<double>(), 0.95);
}

TEST(Call, AudioSurvivesTenPercentLoss) {
  CallPair p;
  p.start(0.10);
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return p.both_in_call(); }, 10000))
      << p.alice_end << " / " << p.bob_end;
  loop.run(8);
  for (auto* s : {p.alice.get(), p.bob.get()}) {
    auto j = s->stats_json();
    uint64_t normal = j["frames_normal"], fec = j["frames_fec"], concealed = j["frames_concealed"];
    RecordProperty("frames_fec", int(fec));
    RecordProperty("frames_concealed", int(concealed));
    std::printf("%s: normal %llu fec %llu concealed %llu loss %.3f data %.3f\n",
                s == p.alice.get() ? "alice" : "bob", (unsigned long long)normal,
                (unsigned long long)fec, (unsigned long long)concealed, j["loss"].get<double>(),
                j["data_fraction"].get<double>());
    EXPECT_GT(j["loss"].get<double>(), 0.04);  // the impairment really dropped packets
    EXPECT_GE(j["data_fraction"].get<double>(), 0.90);
    EXPECT_GT(fec, 0u);  // FEC recovered some frames...
    EXPECT_GT(normal, fec);
  }
  p.alice->hangup();
  p.bob->hangup();
  expect_tone(p.bob_wav, 440, 7);
}

TEST(Call, DeclinedCallEndsWithRefusal) {
  CallPair p;
  p.start(0, "test:880", /*bob_answers=*/false);  // no auto-answer, no terminal: declines
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return p.alice_code != -1; }, 5000));
  EXPECT_EQ(p.alice_code, kExitRefused);
  EXPECT_NE(p.alice_end.find("declined"), std::string::npos) << p.alice_end;
}

TEST(Call, OfflineCalleeIsReported) {
  signaling::TrackerServerOptions to;
  to.port = 0;
  to.log_level = signaling::LogLevel::kError;
  signaling::TrackerServer tracker(to);
  std::string err;
  ASSERT_TRUE(tracker.start(&err)) << err;
  CallOptions a;
  a.tracker_url = tracker.ws_url();
  a.self_id = "alice";
  a.to = "nobody";
  a.audio_tx.source = "test:440";
  CallSession s(nullptr, a, link::Certificate::process_default());
  int code = -1;
  std::string msg;
  s.set_on_end([&](const std::string& m, int c) {
    msg = m;
    code = c;
  });
  s.start();
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return code != -1; }, 5000));
  EXPECT_EQ(code, kExitUnreachable);
  EXPECT_NE(msg.find("not online"), std::string::npos) << msg;
}

TEST(Call, VideoFlowsAndIsRecorded) {
  signaling::TrackerServerOptions to;
  to.port = 0;
  to.log_level = signaling::LogLevel::kError;
  signaling::TrackerServer tracker(to);
  std::string err;
  ASSERT_TRUE(tracker.start(&err)) << err;
  std::string webm = tmp("bob_video.webm");
  CallOptions b;
  b.tracker_url = tracker.ws_url();
  b.self_id = "bob";
  b.auto_answer = true;
  b.audio_tx.source = "test:880";
  b.audio_rx.sink = "null";
  b.video = true;
  b.video_tx.source = "test";
  b.video_tx.width = 320;
  b.video_tx.height = 240;
  b.video_rx.sink = "file:" + webm;
  CallSession bob(nullptr, b, link::Certificate::process_default());
  bob.start();
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return bob.phase() == CallPhase::kWaiting; }, 5000));
  CallOptions a = b;
  a.self_id = "alice";
  a.to = "bob";
  a.auto_answer = false;
  a.video_rx.sink = "null";
  CallSession alice(nullptr, a, link::Certificate::process_default());
  alice.start();
  ASSERT_TRUE(loop.run_until([&] { return bob.phase() == CallPhase::kInCall; }, 8000));
  loop.run(4);
  auto bs = bob.stats_json();
  EXPECT_GT(bs["video_frames_decoded"].get<uint64_t>(), 30u);
  alice.hangup();
  bob.hangup();  // finalizes the WebM
  EXPECT_GT(std::filesystem::file_size(webm), 10'000u);
  std::filesystem::remove(webm);
}
