// Two real peers call each other through a real tracker over loopback: invitation,
// acceptance, ICE + DTLS-SRTP, Opus both ways. 440 Hz one way, 880 Hz the other.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <span>

#include "apps/cli/loop.hpp"
#include "apps/exit_code.hpp"
#include "apps/session/call_session.hpp"
#include "media/common/audio_analysis.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/known_peers.hpp"
#include "signaling/tracker_server.hpp"

using namespace meshcast;
using namespace meshcast::app;

namespace {

std::string tmp(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("meshcast_call_" + std::to_string(getpid()) + "_" + name))
      .string();
}

std::shared_ptr<const signaling::IdentityKey> fresh_key() {
  return std::make_shared<const signaling::IdentityKey>(*signaling::IdentityKey::generate());
}
std::shared_ptr<signaling::KnownPeers> no_pins() {
  return std::make_shared<signaling::KnownPeers>(*signaling::KnownPeers::load(""));
}

signaling::TrackerServerOptions tracker_options() {
  signaling::TrackerServerOptions to;
  to.port = 0;
  to.log_level = signaling::LogLevel::kError;
  return to;
}

struct CallPair {
  std::unique_ptr<signaling::TrackerServer> tracker;
  std::unique_ptr<CallSession> alice, bob;
  std::string alice_wav = tmp("alice.wav"), bob_wav = tmp("bob.wav");
  std::string alice_end, bob_end;
  int alice_code = -1, bob_code = -1;
  // Each side's identity key and pins (in memory: nothing is written to the user's files).
  std::shared_ptr<const signaling::IdentityKey> alice_key = fresh_key(), bob_key = fresh_key();
  std::shared_ptr<signaling::KnownPeers> alice_known = no_pins(), bob_known = no_pins();
  int heal_window_ms = 0;  // both sides' LinkConfig::heal_window_ms

  void start(double loss, const std::string& bob_source = "test:880", bool bob_answers = true) {
    signaling::TrackerServerOptions to;
    to.port = 0;
    to.log_level = signaling::LogLevel::kError;
    tracker = std::make_unique<signaling::TrackerServer>(to);
    auto started = tracker->start();
    ASSERT_TRUE(started) << started.error();
    CallOptions b;
    b.tracker_url = tracker->ws_url();
    b.self_id = "bob";
    b.auto_answer = bob_answers;
    b.accept_from = {"alice"};
    b.audio_tx.source = bob_source;
    b.audio_rx.sink = "file:" + bob_wav;
    b.impairment.drop = loss;
    b.impairment.seed = 11;
    b.link.heal_window_ms = heal_window_ms;
    b.client.identity = bob_key;
    b.known_peers = bob_known;
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
    a.client.identity = alice_key;
    a.known_peers = alice_known;
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
  // Both fresh identities were pinned on first use (trust on first use).
  EXPECT_EQ(p.alice_known->check("bob", p.bob_key->public_key_b64()),
            signaling::KnownPeers::Check::kMatch);
  EXPECT_EQ(p.bob_known->check("alice", p.alice_key->public_key_b64()),
            signaling::KnownPeers::Check::kMatch);
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

// Alice's link loses every datagram for 5 s mid-call (the impairment hook, both ways). Her
// link goes reconnecting, restarts ICE through the tracker, bob restarts on her message, and
// the call goes on: no one ended, both counted a restart, media came back on the same DTLS
// session, and the end of what bob heard is alice's tone.
TEST(CallHeal, AFiveSecondBlackholeIsHealedByAnIceRestart) {
  CallPair p;
  p.heal_window_ms = 20000;
  p.start(0);
  MainLoop loop;
  ASSERT_TRUE(loop.run_until([&] { return p.both_in_call(); }, 8000))
      << p.alice_end << " / " << p.bob_end;
  loop.run(2);
  link::Impairment drop_all;
  drop_all.drop = 1.0;
  p.alice->peer_link()->set_impairment(drop_all, drop_all);
  loop.run(5);
  p.alice->peer_link()->set_impairment(link::Impairment{}, link::Impairment{});
  auto healed = [&](CallSession& s) {
    auto j = s.stats_json();
    return j.value("link_state", "") == "connected" && j.value("heals", 0) >= 1;
  };
  ASSERT_TRUE(loop.run_until([&] { return healed(*p.alice) && healed(*p.bob); }, 15000))
      << p.alice->stats_json().dump() << "\n"
      << p.bob->stats_json().dump();
  loop.run(3);
  EXPECT_EQ(p.alice_code, -1) << p.alice_end;  // nobody's call ended
  EXPECT_EQ(p.bob_code, -1) << p.bob_end;
  for (auto* s : {p.alice.get(), p.bob.get()}) {
    auto j = s->stats_json();
    std::printf("%s\n", j.dump().c_str());
    EXPECT_EQ(j["phase"], "in call");
    EXPECT_GE(j["ice_restarts"].get<int>(), 1);
    EXPECT_EQ(j["dtls_handshakes"].get<int>(), 1);
    EXPECT_EQ(j["srtp_auth_failures"].get<int>(), 0);
  }
  p.alice->hangup();
  p.bob->hangup();
  // The last 2 s bob heard: alice's tone again.
  auto w = media::read_wav_file(p.bob_wav);
  ASSERT_TRUE(w);
  auto mono = w->mono();
  const size_t tail = 2 * w->sample_rate;
  ASSERT_GT(mono.size(), tail);
  std::span<const int16_t> end(mono.data() + mono.size() - tail, tail);
  EXPECT_NEAR(media::dominant_frequency(end, w->sample_rate), 440, 440 * 0.03);
  EXPECT_GE(media::audible_fraction(end, w->sample_rate), 0.8);
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
  auto started = tracker.start();
  ASSERT_TRUE(started) << started.error();
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
  auto started = tracker.start();
  ASSERT_TRUE(started) << started.error();
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

// ---- identities, written as the impostor ------------------------------------------------------

namespace {

// A call session with a given key and pins; `end_code` / `end_msg` are set when it ends.
struct Side {
  std::unique_ptr<CallSession> s;
  int end_code = -1;
  std::string end_msg;
  bool was_in_call = false;
  void start(const std::string& url, const std::string& me, const std::string& to,
             std::shared_ptr<const signaling::IdentityKey> key,
             std::shared_ptr<signaling::KnownPeers> known) {
    CallOptions o;
    o.tracker_url = url;
    o.self_id = me;
    o.to = to;
    o.auto_answer = to.empty();
    o.ring_timeout_ms = 3000;
    o.audio_tx.source = "test:440";
    o.audio_rx.sink = "null";
    o.client.identity = std::move(key);
    o.known_peers = std::move(known);
    s = std::make_unique<CallSession>(nullptr, o, link::Certificate::process_default());
    s->set_on_end([this](const std::string& m, int c) {
      end_msg = m;
      end_code = c;
    });
    s->set_on_notice([](const std::string&) {});
    s->start();
  }
  bool in_call() {
    was_in_call = was_in_call || (s && s->phase() == CallPhase::kInCall);
    return was_in_call;
  }
};

}  // namespace

TEST(CallIdentity, ASquatterCannotTakeAnIdAndReceiveItsCalls) {
  auto options = tracker_options();
  options.core.resume_grace_ms = 0;  // bob's session is over when his connection closes
  signaling::TrackerServer tracker(options);
  auto started = tracker.start();
  ASSERT_TRUE(started) << started.error();
  MainLoop loop;
  // bob registers once (his name is now bound to his key) and leaves.
  {
    Side bob;
    bob.start(tracker.ws_url(), "bob", "", fresh_key(), no_pins());
    ASSERT_TRUE(loop.run_until([&] { return bob.s->phase() == CallPhase::kWaiting; }, 5000));
  }
  ASSERT_TRUE(loop.run_until([&] { return !tracker.core().has_peer("bob"); }, 5000));
  // mallory, with a key of her own, says hello as "bob": refused.
  Side mallory;
  mallory.start(tracker.ws_url(), "bob", "", fresh_key(), no_pins());
  ASSERT_TRUE(loop.run_until([&] { return mallory.end_code != -1; }, 5000));
  EXPECT_EQ(mallory.end_code, kExitRefused);
  EXPECT_NE(mallory.end_msg.find("another identity key"), std::string::npos) << mallory.end_msg;
  // alice's call finds no "bob": it never reaches the squatter.
  Side alice;
  alice.start(tracker.ws_url(), "alice", "bob", fresh_key(), no_pins());
  ASSERT_TRUE(loop.run_until([&] { return alice.end_code != -1; }, 5000));
  EXPECT_EQ(alice.end_code, kExitUnreachable) << alice.end_msg;
  EXPECT_NE(mallory.s->phase(), CallPhase::kLinking);
  EXPECT_TRUE(mallory.s->peer_id().empty());  // no call_incoming ever reached her
}

TEST(CallIdentity, ALyingTrackerCannotPutAnImpostorInACallWithAPinnedPeer) {
  const auto alice_key = fresh_key(), bob_key = fresh_key(), mallory_key = fresh_key();
  auto alice_known = no_pins();
  MainLoop loop;
  // First, the real bob on an honest tracker: alice pins his key on their first call.
  {
    signaling::TrackerServer honest(tracker_options());
    auto started = honest.start();
    ASSERT_TRUE(started) << started.error();
    Side bob, alice;
    bob.start(honest.ws_url(), "bob", "", bob_key, no_pins());
    ASSERT_TRUE(loop.run_until([&] { return bob.s->phase() == CallPhase::kWaiting; }, 5000));
    alice.start(honest.ws_url(), "alice", "bob", alice_key, alice_known);
    ASSERT_TRUE(loop.run_until([&] { return alice.in_call() && bob.in_call(); }, 8000))
        << alice.end_msg << " / " << bob.end_msg;
    alice.s->hangup();
    ASSERT_TRUE(loop.run_until([&] { return bob.end_code != -1; }, 5000));
  }
  ASSERT_EQ(alice_known->check("bob", bob_key->public_key_b64()),
            signaling::KnownPeers::Check::kMatch);
  // Then a tracker with a fresh identity database (or one that lies) lets mallory be "bob".
  signaling::TrackerServer liar(tracker_options());
  auto started = liar.start();
  ASSERT_TRUE(started) << started.error();
  Side mallory, alice;
  mallory.start(liar.ws_url(), "bob", "", mallory_key, no_pins());
  ASSERT_TRUE(loop.run_until([&] { return mallory.s->phase() == CallPhase::kWaiting; }, 5000))
      << mallory.end_msg;
  alice.start(liar.ws_url(), "alice", "bob", alice_key, alice_known);
  ASSERT_TRUE(loop.run_until([&] { return alice.end_code != -1 || alice.in_call(); }, 8000));
  EXPECT_EQ(alice.end_code, kExitIdentity) << alice.end_msg;
  EXPECT_NE(alice.end_msg.find("has changed"), std::string::npos) << alice.end_msg;
  EXPECT_NE(alice.end_msg.find(mallory_key->fingerprint()), std::string::npos) << alice.end_msg;
  // No media: give a link that might still form time to do so, then look.
  loop.run_until([&] { return alice.in_call() || mallory.in_call(); }, 2000);
  EXPECT_FALSE(alice.was_in_call);
  EXPECT_FALSE(mallory.was_in_call);
  EXPECT_EQ(alice.s->audio_receiver(), nullptr);
  EXPECT_EQ(mallory.s->audio_receiver(), nullptr);
  // The pin is unchanged: the real bob is still the one alice trusts.
  EXPECT_EQ(alice_known->check("bob", bob_key->public_key_b64()),
            signaling::KnownPeers::Check::kMatch);

  // The other direction: mallory, as "alice", calls bob, who has alice pinned.
  signaling::TrackerServer liar2(tracker_options());
  auto started2 = liar2.start();
  ASSERT_TRUE(started2) << started2.error();
  auto bob_known = no_pins();
  ASSERT_TRUE(bob_known->pin("alice", alice_key->public_key_b64()));
  Side bob, fake_alice;
  bob.start(liar2.ws_url(), "bob", "", bob_key, bob_known);
  ASSERT_TRUE(loop.run_until([&] { return bob.s->phase() == CallPhase::kWaiting; }, 5000));
  fake_alice.start(liar2.ws_url(), "alice", "bob", mallory_key, no_pins());
  ASSERT_TRUE(loop.run_until([&] { return bob.end_code != -1 || bob.in_call(); }, 8000));
  EXPECT_EQ(bob.end_code, kExitIdentity) << bob.end_msg;
  EXPECT_FALSE(bob.was_in_call);
  EXPECT_EQ(bob.s->peer_link(), nullptr);  // refused before any link was made
}
