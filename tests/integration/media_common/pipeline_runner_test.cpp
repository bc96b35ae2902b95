// PipelineRunner: the one start/stop skeleton of the media pipelines, on real pipelines of
// GStreamer core elements (fakesrc, identity, filesrc, fakesink).
#include "media/common/pipeline_runner.hpp"

#include <gtest/gtest.h>

#include <string>

#include "media/common/gst_util.hpp"

using namespace meshcast::media;

namespace {
class PipelineRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_gst_init();
    ctx_.reset(g_main_context_new());
  }
  // Iterates the context until done(), at most 1000 times; a 10 ms tick keeps each
  // blocking iteration short, so the whole wait is bounded.
  template <typename Pred>
  bool iterate_until(Pred done) {
    SourceGuard tick = SourceGuard::timeout(
        10, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, ctx_.get());
    for (int i = 0; i < 1000 && !done(); ++i) g_main_context_iteration(ctx_.get(), TRUE);
    return done();
  }
  GMainContextPtr ctx_;
};
}  // namespace

TEST_F(PipelineRunnerTest, RunsToEosOnTheContextAndReleasesThePipeline) {
  PipelineRunner r;
  auto built = r.build("fakesrc num-buffers=5 ! fakesink name=sink");
  ASSERT_TRUE(built) << built.error();
  GstElementPtr sink = r.element("sink");
  ASSERT_TRUE(sink);
  EXPECT_EQ(GST_OBJECT_REFCOUNT_VALUE(sink.get()), 2);  // the pipeline's and ours
  EXPECT_EQ(r.element("missing"), nullptr);
  bool eos = false;
  r.set_on_eos([&] { eos = true; });
  r.watch_bus(ctx_.get());
  auto played = r.play("fallback");
  ASSERT_TRUE(played) << played.error();
  EXPECT_TRUE(iterate_until([&] { return eos; }));
  gpointer alive = r.pipeline();
  g_object_add_weak_pointer(G_OBJECT(alive), &alive);
  r.stop();
  EXPECT_FALSE(r);
  EXPECT_EQ(r.pipeline(), nullptr);
  // The runner's was the last reference we know of; GStreamer's state-change thread may
  // still hold one for a moment after NULL, so wait (bounded) for the pipeline to go.
  for (int i = 0; i < 500 && alive; ++i) g_usleep(10'000);
  EXPECT_EQ(alive, nullptr) << "pipeline not finalized";
  EXPECT_EQ(GST_OBJECT_REFCOUNT_VALUE(sink.get()), 1);  // its bin released it
  r.stop();                                             // idempotent
}

TEST_F(PipelineRunnerTest, BuildFailureSaysWhy) {
  PipelineRunner r;
  auto built = r.build("no_such_element_xyz ! fakesink");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().rfind("pipeline: ", 0), 0u) << built.error();
  EXPECT_FALSE(r);
  auto played = r.play("no pipeline");
  ASSERT_FALSE(played);
  EXPECT_EQ(played.error(), "no pipeline");
}

TEST_F(PipelineRunnerTest, PlayFailureCarriesThePipelinesReason) {
  PipelineRunner r;
  auto built = r.build("filesrc location=/nonexistent/meshcast-no-file ! fakesink");
  ASSERT_TRUE(built) << built.error();
  auto played = r.play("fallback");
  ASSERT_FALSE(played);
  EXPECT_NE(played.error(), "fallback");  // filesrc's own message ("Resource not found.")
  EXPECT_FALSE(played.error().empty());
}

TEST_F(PipelineRunnerTest, ErrorsReachTheCallbackWithTheElementName) {
  PipelineRunner r;
  // identity fails the stream on its first buffer, after PLAYING.
  auto built = r.build("fakesrc num-buffers=5 ! identity name=boom error-after=1 ! fakesink");
  ASSERT_TRUE(built) << built.error();
  std::string got;
  bool handled_first = false;
  r.set_on_message([&](GstMessage* msg) {
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) handled_first = true;
    return false;  // fall through to on_error
  });
  r.set_on_error([&](const std::string& text) { got = text; });
  r.watch_bus(ctx_.get());
  (void)r.play("fallback");
  EXPECT_TRUE(iterate_until([&] { return !got.empty(); }));
  EXPECT_TRUE(handled_first);
  EXPECT_EQ(got.rfind("boom: ", 0), 0u) << got;
}

TEST_F(PipelineRunnerTest, StopWithEosWaitsForTheSinks) {
  PipelineRunner r;
  auto built = r.build("fakesrc is-live=true sizetype=fixed sizemax=64 ! fakesink");
  ASSERT_TRUE(built) << built.error();
  auto played = r.play("fallback");
  ASSERT_TRUE(played) << played.error();
  ASSERT_NE(gst_element_get_state(r.pipeline(), nullptr, nullptr, GST_CLOCK_TIME_NONE),
            GST_STATE_CHANGE_FAILURE);
  EXPECT_TRUE(r.stop_with_eos(nullptr, 5000));
  EXPECT_FALSE(r);
}

TEST_F(PipelineRunnerTest, AdoptTakesAPipelineBuiltElsewhere) {
  auto p = adopt_floating<GstElementPtr>(gst_pipeline_new("own"));
  GstElement* raw = p.get();
  GstElementPtr observer(GST_ELEMENT(gst_object_ref(raw)));
  PipelineRunner r;
  r.adopt(std::move(p));
  EXPECT_EQ(r.pipeline(), raw);
  EXPECT_EQ(GST_OBJECT_REFCOUNT_VALUE(raw), 2);
  r.stop();
  EXPECT_EQ(GST_OBJECT_REFCOUNT_VALUE(raw), 1);
}
