#include "mesh/node/uplink_estimator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

using meshcast::node::UplinkEstimator;

namespace {

constexpr int64_t kStepUs = 500'000;
constexpr double kStreamBps = 800e3;

UplinkEstimator::Config config(uint64_t max_bps) {
  UplinkEstimator::Config c;
  c.max_bps = max_bps;
  c.min_bps = uint64_t(kStreamBps / 4);
  return c;
}

// A modem's uplink as `tc tbf` builds it: a FIFO draining at cap_bps, dropping what would
// queue beyond limit_bytes. A link reports its latest keepalive RTT.
struct Uplink {
  double cap_bps;
  double limit_bytes;
  double base_ms = 20;
  double queue_bytes = 0;
  uint64_t sent = 0, chunks = 0, nacked = 0;
  // Share of the dropped chunks that children NACK (a message whose chunks were all dropped
  // is never NACKed: nobody knows it was sent).
  double nacked_share = 1.0;

  // `offered_bps` for one step; returns the smoothed RTT seen by a link after it.
  double step(double offered_bps) {
    const double in = offered_bps * kStepUs / 8e6;
    sent += uint64_t(in);
    chunks += uint64_t(in / 1150);
    queue_bytes = std::max(0.0, queue_bytes + in - cap_bps * kStepUs / 8e6);
    if (queue_bytes > limit_bytes) {
      nacked += uint64_t((queue_bytes - limit_bytes) / 1150 * nacked_share);
      queue_bytes = limit_bytes;
    }
    const double rtt = base_ms + queue_bytes * 8e3 / cap_bps;
    return rtt;
  }
};

// What a relay offers its uplink for a budget: its push slots (85 % of the budget in
// stripes of a quarter of the stream, plus 4 % headers) and pull answers up to the budget.
double offered_for(uint64_t budget) {
  const double stripe = kStreamBps / 4;
  const double pushes = std::floor(double(budget) * 0.85 / stripe) * stripe * 1.04;
  return std::min(double(budget), pushes + 0.1 * double(budget));
}

struct Trace {
  std::vector<uint64_t> budgets;  // one per step
  std::vector<double> queue_ms;
};

// `steps` samples of a relay that uses its whole budget over `link`, with `links` partners
// whose RTT all carry the uplink's queue (plus their own base RTT).
Trace run(UplinkEstimator& est, Uplink& link, int steps, int64_t* now, int links = 3) {
  Trace r;
  if (*now == 0) {
    // The links come up (ICE, keepalives) before any child subscribes: idle RTTs first.
    for (int k = 0; k < 2; ++k) {
      const double rtt = link.step(0);
      *now += kStepUs;
      std::vector<UplinkEstimator::LinkRtt> rtts;
      for (int l = 0; l < links; ++l) rtts.push_back({uint64_t(l), rtt + 10.0 * l});
      est.update({*now, link.sent, link.chunks, link.nacked, rtts});
    }
  }
  for (int i = 0; i < steps; ++i) {
    const double rtt = link.step(offered_for(est.budget_bps()));
    *now += kStepUs;
    std::vector<UplinkEstimator::LinkRtt> rtts;
    for (int k = 0; k < links; ++k) rtts.push_back({uint64_t(k), rtt + 10.0 * k});
    est.update({*now, link.sent, link.chunks, link.nacked, rtts});
    r.budgets.push_back(est.budget_bps());
    r.queue_ms.push_back(link.queue_bytes * 8e3 / link.cap_bps);
  }
  return r;
}

}  // namespace

TEST(UplinkEstimator, StartsAtTheDeclaredBudgetAndKeepsItOnAFastUplink) {
  UplinkEstimator est(config(3'200'000));
  EXPECT_EQ(est.budget_bps(), 3'200'000u);
  Uplink fast{10e6, 60'000};
  int64_t now = 0;
  Trace r = run(est, fast, 120, &now);
  EXPECT_EQ(r.budgets.back(), 3'200'000u);  // never above the declared bound
  EXPECT_EQ(est.cuts(), 0u);
}

// A viewer at 4x an 800 kbit/s stream behind a 1 Mbit/s uplink (tbf, 500 ms of queue).
TEST(UplinkEstimator, CutsBelowACappedUplinkAndStaysThere) {
  UplinkEstimator est(config(3'200'000));
  Uplink capped{1e6, 1e6 / 8 * 0.5};
  int64_t now = 0;
  Trace r = run(est, capped, 120, &now);  // 60 s
  EXPECT_GE(est.cuts(), 1u);
  // The last 30 s: below the cap (the queue drained), but not far below (room for a stream
  // copy and pull answers).
  for (size_t i = 60; i < r.budgets.size(); ++i) {
    EXPECT_LT(r.budgets[i], 1'000'000u) << "step " << i;
    EXPECT_GT(r.budgets[i], 700'000u) << "step " << i;
    EXPECT_LT(r.queue_ms[i], 50.0) << "step " << i;
  }
  EXPECT_LE(est.cuts(), 3u);  // no saw-tooth while the ceiling holds
}

TEST(UplinkEstimator, ABelowStreamRateUplinkEndsBelowItsRate) {
  UplinkEstimator est(config(3'200'000));
  Uplink slow{480e3, 480e3 / 8 * 0.5};
  int64_t now = 0;
  Trace r = run(est, slow, 120, &now);
  // What the relay offers its uplink at that budget (slots in whole stripes) fits in it,
  // and the queue drained.
  EXPECT_LT(offered_for(r.budgets.back()), 480e3);
  EXPECT_LT(r.budgets.back(), 600'000u);
  EXPECT_GE(r.budgets.back(), 200'000u);  // the floor
  EXPECT_LT(r.queue_ms.back(), 50.0);
}

TEST(UplinkEstimator, ProbesBeyondTheLastCongestionOnlyAfterTheCeilingHold) {
  auto cfg = config(3'200'000);
  cfg.ceiling_hold_us = 10'000'000;
  UplinkEstimator est(cfg);
  Uplink capped{1e6, 1e6 / 8 * 0.5};
  int64_t now = 0;
  run(est, capped, 40, &now);
  ASSERT_GE(est.cuts(), 1u);
  // The uplink got faster (another household member stopped uploading).
  capped.cap_bps = 3e6;
  Trace r = run(est, capped, 240, &now);  // 2 minutes
  EXPECT_GT(r.budgets.back(), 1'200'000u);
}

TEST(UplinkEstimator, OneSlowPartnerDoesNotCut) {
  // Only one link's RTT rises: that partner's own uplink queues, not ours.
  UplinkEstimator est(config(3'200'000));
  int64_t now = 0;
  uint64_t sent = 0;
  for (int i = 0; i < 60; ++i) {
    now += kStepUs;
    sent += 200'000;  // 3.2 Mbit/s
    std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}, {2, 30}, {3, 20.0 + 10 * i}};
    est.update({now, sent, 0, 0, rtts});
  }
  EXPECT_EQ(est.cuts(), 0u);
  EXPECT_EQ(est.budget_bps(), 3'200'000u);
}

// A modem with a short buffer drops before the RTT rises far: loss with some queueing cuts.
TEST(UplinkEstimator, LossWithSomeQueueingCuts) {
  UplinkEstimator est(config(3'200'000));
  int64_t now = 0;
  uint64_t sent = 0, chunks = 0, nacked = 0;
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}};
  for (int i = 0; i < 4; ++i) {
    now += kStepUs;
    sent += 125'000;  // 2 Mbit/s
    chunks += 110;
    nacked += 22;  // 20 % asked again
    rtts[0].rtt_ms = i == 0 ? 20 : 60;
    est.update({now, sent, chunks, nacked, rtts});
  }
  EXPECT_EQ(est.cuts(), 1u);  // once: then the hold time
  EXPECT_LE(est.budget_bps(), uint64_t(2'000'000 * 0.8 * 0.85));
  EXPECT_GE(est.budget_bps(), 3'200'000u / 4);  // at most a quarter kept at once
  EXPECT_NEAR(est.loss(), 0.2, 0.01);
}

// Partners that lose what we send while our RTT stays flat lose it themselves (CPU, their
// downlink): not our uplink.
TEST(UplinkEstimator, LossWithoutQueueingDoesNotCut) {
  UplinkEstimator est(config(3'200'000));
  int64_t now = 0;
  uint64_t sent = 0, chunks = 0, nacked = 0;
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}, {2, 40}};
  for (int i = 0; i < 20; ++i) {
    now += kStepUs;
    sent += 125'000;
    chunks += 110;
    nacked += 22;  // 20 %
    est.update({now, sent, chunks, nacked, rtts});
  }
  EXPECT_EQ(est.cuts(), 0u);
  EXPECT_EQ(est.budget_bps(), 3'200'000u);
}

TEST(UplinkEstimator, ALinkOpenedDuringCongestionDoesNotHideTheQueue) {
  UplinkEstimator est(config(3'200'000));
  int64_t now = 0;
  uint64_t sent = 0;
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}, {2, 25}};
  est.update({now, sent, 0, 0, rtts});
  // The queue builds to 60 ms, then a new link appears with that queue in its first RTT.
  now += kStepUs;
  sent += 100'000;
  rtts = {{1, 80}, {2, 85}};
  est.update({now, sent, 0, 0, rtts});
  EXPECT_NEAR(double(est.queue_delay_us()), 60'000, 1'000);
  now += kStepUs;
  sent += 100'000;
  // Link 3 (base 30 ms) comes with the 130 ms queue in its first RTT.
  rtts = {{1, 150}, {2, 155}, {3, 160}};
  est.update({now, sent, 0, 0, rtts});
  EXPECT_NEAR(double(est.queue_delay_us()), 130'000, 1'000);
  now += kStepUs;
  sent += 100'000;
  rtts = {{1, 200}, {2, 205}, {3, 210}};
  est.update({now, sent, 0, 0, rtts});
  EXPECT_NEAR(double(est.queue_delay_us()), 180'000, 1'000);  // link 3 too: its floor is 30
  EXPECT_GE(est.cuts(), 1u);
}

// After a cut the budget may grow back towards what the uplink carried then; beyond that
// only while the relay uses it.
TEST(UplinkEstimator, AnIdleRelayDoesNotGrowBeyondWhatItSaw) {
  auto cfg = config(3'200'000);
  cfg.ceiling_hold_us = 5'000'000;
  UplinkEstimator est(cfg);
  int64_t now = 0;
  uint64_t sent = 0;
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}};
  // A cut (150 ms of queue, which stays below saturation) ...
  for (int i = 0; i < 3; ++i) {
    now += kStepUs;
    sent += 125'000;
    rtts[0].rtt_ms = 20 + 150 * std::min(i, 1);
    est.update({now, sent, 0, 0, rtts});
  }
  ASSERT_EQ(est.cuts(), 1u);
  // ... then a quiet uplink that sends little: no evidence for more once the ceiling's time
  // is over.
  rtts[0].rtt_ms = 20;
  for (int i = 0; i < 20; ++i) {
    now += kStepUs;
    sent += 5'000;
    est.update({now, sent, 0, 0, rtts});
  }
  const uint64_t after_hold = est.budget_bps();
  for (int i = 0; i < 200; ++i) {
    now += kStepUs;
    sent += 5'000;
    est.update({now, sent, 0, 0, rtts});
  }
  EXPECT_EQ(est.budget_bps(), after_hold);
  EXPECT_LT(after_hold, 2'000'000u);
}

TEST(UplinkEstimator, BadSamplesOnlyResynchronise) {
  UplinkEstimator est(config(1'000'000));
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, -1}, {2, NAN}, {3, INFINITY}};
  est.update({1'000'000, 100, 10, 0, rtts});
  EXPECT_EQ(est.queue_delay_us(), -1);            // no usable RTT
  est.update({500'000, 50, 5, 0, rtts});          // time and counters went back
  est.update({500'000, 60, 5, 0, rtts});          // no time passed
  est.update({1'000'000, 1ull << 62, 5, 7, {}});  // absurd rate, NACKs without chunks
  EXPECT_EQ(est.budget_bps(), 1'000'000u);        // never above the bound
  EXPECT_EQ(est.loss(), 0.0);                     // too few chunks to judge
  UplinkEstimator zero(config(0));                // no upload at all
  EXPECT_EQ(zero.update({1, 0, 0, 0, {}}), 0u);
}

// Started at 1.5x the stream rate (slow start): a relay on a fast uplink whose slots fill
// grows to its declared budget within seconds; one on a slow uplink is overloaded less.
TEST(UplinkEstimator, SlowStartGrowsWhileUsedUpToTheDeclaredBudget) {
  auto cfg = config(3'200'000);
  cfg.start_bps = 1'200'000;
  UplinkEstimator est(cfg);
  EXPECT_EQ(est.budget_bps(), 1'200'000u);
  Uplink fast{10e6, 60'000};
  int64_t now = 0;
  Trace r = run(est, fast, 24, &now);  // 12 s
  EXPECT_EQ(r.budgets.back(), 3'200'000u);
  EXPECT_EQ(est.cuts(), 0u);

  UplinkEstimator slow_est(cfg);
  Uplink slow{480e3, 480e3 / 8 * 0.5};
  now = 0;
  r = run(slow_est, slow, 60, &now);
  EXPECT_LT(r.budgets.back(), 480'000u);
  EXPECT_LT(r.queue_ms.back(), 50.0);
}

// Paced at a low estimate, our own pacer drops chunks that waited too long; partners NACK
// them. That is not the uplink's loss, and cutting for it would spiral down.
TEST(UplinkEstimator, ChunksDroppedByOurPacerAreNotTheUplinksLoss) {
  UplinkEstimator est(config(3'200'000));
  int64_t now = 0;
  uint64_t sent = 0, chunks = 0, nacked = 0, dropped = 0;
  std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20}};
  for (int i = 0; i < 20; ++i) {
    now += kStepUs;
    sent += 50'000;
    chunks += 100;
    nacked += 40;
    dropped += 38;
    est.update({now, sent, chunks, nacked, rtts, dropped});
    EXPECT_NEAR(est.loss(), i == 0 ? 0.0 : 0.02, 1e-9);
  }
  EXPECT_EQ(est.cuts(), 0u);
}

// Once a modem's queue is full it drops what it cannot hold and the queue stops growing:
// the sent rate (sendto succeeds for what the modem drops) then says nothing of what got
// through, and a cut to a share of it would leave a 480 kbit/s uplink overloaded for many
// hold periods (seen in the NAT lab: 1.3 Mbit/s -> 0.8 -> 0.7 -> 0.6 over 8 s, its children
// starving). A saturated queue cuts the budget by a fixed share instead.
TEST(UplinkEstimator, ASaturatedQueueCutsTheBudgetByAShare) {
  auto budgets_after_saturation = [](int64_t saturated_us) {
    auto cfg = config(3'200'000);
    cfg.start_bps = 1'200'000;
    cfg.saturated_queue_delay_us = saturated_us;
    UplinkEstimator est(cfg);
    std::vector<uint64_t> out;
    uint64_t sent = 0, chunks = 0;
    int64_t now = 0;
    for (int i = 0; i < 12; ++i) {
      now += kStepUs;
      // Idle for a second (the links' floors), then 1.2 Mbit/s into a 480 kbit/s modem
      // whose queue is full: 400 ms on every link, flat.
      const double queue_ms = i < 2 ? 0 : 400;
      if (i >= 2) {
        sent += 1'200'000 / 8 / 2;
        chunks += 65;
      }
      std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20 + queue_ms}, {2, 35 + queue_ms}};
      est.update({now, sent, chunks, 0, rtts});
      out.push_back(est.budget_bps());
    }
    return out;
  };
  const auto shared = budgets_after_saturation(250'000);
  const auto sent_rate = budgets_after_saturation(60'000'000);
  // Two cuts in the 5 s of saturation, each to half at most.
  EXPECT_LE(shared.back(), 1'200'000u / 4 + 1);
  EXPECT_GE(shared.back(), 200'000u);  // never below the floor
  // Cutting to a share of the sent rate stays higher, each cut.
  for (size_t i = 0; i < shared.size(); ++i) EXPECT_LE(shared[i], sent_rate[i]) << i;
  EXPECT_LT(shared.back(), sent_rate.back());
}

// A relay at 1.2 Mbit/s behind a 1 Mbit/s modem: the first cut comes at 150 ms of queue and
// keeps most of the budget (the sent rate overstates what got through); the queue still
// grows, to 400 ms half a second later. Waiting out the hold (2 s) would leave the children
// in a modem that drops; the saturated cut follows at once, and only once.
TEST(UplinkEstimator, ACutAfterWhichTheQueueGrowsIntoSaturationIsFollowedAtOnce) {
  auto cfg = config(3'200'000);
  cfg.start_bps = 1'200'000;
  UplinkEstimator est(cfg);
  uint64_t sent = 0, chunks = 0;
  int64_t now = 0;
  auto sample = [&](double queue_ms, bool sending) {
    now += kStepUs;
    if (sending) {
      sent += 1'200'000 / 8 / 2;
      chunks += 65;
    }
    std::vector<UplinkEstimator::LinkRtt> rtts = {{1, 20 + queue_ms}, {2, 35 + queue_ms}};
    return est.update({now, sent, chunks, 0, rtts});
  };
  sample(0, false);
  sample(0, false);
  const uint64_t first = sample(150, true);
  ASSERT_EQ(est.cuts(), 1u);
  EXPECT_GT(first, 600'000u);  // a gentle cut: the queue was not yet saturated
  const uint64_t second = sample(400, true);
  EXPECT_EQ(est.cuts(), 2u) << "the saturated cut waited for the hold";
  EXPECT_LE(second, first / 2);
  // Saturated and flat: the next cut waits for the hold again.
  sample(420, true);
  sample(430, true);
  EXPECT_EQ(est.cuts(), 2u);
}

// A measured capacity (an uplink probe) sets the start: no slots beyond the modem while
// the delay-based view has nothing to go on yet.
TEST(UplinkEstimator, AwaitsAMeasuredCapacityAtTheFloorAndStartsBelowIt) {
  auto cfg = config(3'200'000);
  cfg.start_bps = 1'200'000;
  cfg.await_capacity = true;
  UplinkEstimator est(cfg);
  EXPECT_EQ(est.budget_bps(), cfg.min_bps);
  est.set_capacity(1'000'000, 0);
  EXPECT_EQ(est.capacity_bps(), 1'000'000u);
  EXPECT_EQ(est.budget_bps(), 800'000u);  // capacity_share
  // Used and clean on a 1 Mbit/s uplink: it stays below the uplink, with no cut needed.
  Uplink capped{1e6, 1e6 / 8 * 0.4};
  int64_t now = 0;
  Trace r = run(est, capped, 60, &now);
  EXPECT_EQ(est.cuts(), 0u);
  for (size_t i = 0; i < r.budgets.size(); ++i) {
    EXPECT_LE(r.budgets[i], 850'000u) << "step " << i;  // ceiling_share of the capacity
    EXPECT_LT(r.queue_ms[i], 100.0) << "step " << i;
  }
  // Unknown afterwards changes nothing.
  est.capacity_unknown();
  EXPECT_LE(est.budget_bps(), 850'000u);
}

TEST(UplinkEstimator, WithoutAMeasuredCapacityItStartsFromItsGuess) {
  auto cfg = config(3'200'000);
  cfg.start_bps = 1'200'000;
  cfg.await_capacity = true;
  UplinkEstimator est(cfg);
  est.capacity_unknown();
  EXPECT_EQ(est.budget_bps(), 1'200'000u);
  est.set_capacity(0, 0);  // a useless measurement changes nothing
  EXPECT_EQ(est.budget_bps(), 1'200'000u);
}

TEST(UplinkEstimator, AMeasuredCapacityIsClampedToTheBoundsAndIgnoredAfterACut) {
  auto cfg = config(3'200'000);
  cfg.await_capacity = true;
  UplinkEstimator huge(cfg);
  huge.set_capacity(100'000'000, 0);
  EXPECT_EQ(huge.budget_bps(), 3'200'000u);
  UplinkEstimator tiny(cfg);
  tiny.set_capacity(50'000, 0);
  EXPECT_EQ(tiny.budget_bps(), cfg.min_bps);
  // A cut came first (the probe's answers were slow): the queue's word is newer.
  auto c2 = config(3'200'000);
  UplinkEstimator est(c2);
  Uplink capped{1e6, 1e6 / 8 * 0.5};
  int64_t now = 0;
  run(est, capped, 40, &now);
  ASSERT_GE(est.cuts(), 1u);
  const uint64_t before = est.budget_bps();
  est.set_capacity(3'000'000, now);
  EXPECT_EQ(est.budget_bps(), before);
}
