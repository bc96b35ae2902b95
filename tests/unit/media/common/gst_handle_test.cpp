// Ownership rules of the GLib/GStreamer handles (media/common/glib_handle.hpp,
// gst_handle.hpp): every handle releases exactly the one reference it owns.
#include "media/common/gst_handle.hpp"

#include <gtest/gtest.h>

#include <utility>

#include "media/common/gst_util.hpp"

using namespace meshcast::media;

namespace {
int refs(gpointer object) { return static_cast<int>(GST_OBJECT_REFCOUNT_VALUE(object)); }
int mini_refs(gpointer mini) { return GST_MINI_OBJECT_REFCOUNT_VALUE(mini); }

class GstHandle : public ::testing::Test {
 protected:
  void SetUp() override { ensure_gst_init(); }
};
}  // namespace

TEST_F(GstHandle, ObjectHandleReleasesItsReference) {
  auto bin = adopt_floating<GstElementPtr>(gst_bin_new("b"));
  GstElement* raw = bin.get();
  {
    GstElementPtr extra(GST_ELEMENT(gst_object_ref(raw)));
    EXPECT_EQ(refs(raw), 2);
  }
  EXPECT_EQ(refs(raw), 1);
}

TEST_F(GstHandle, AdoptFloatingSinksWithoutAddingAReference) {
  GstElement* raw = gst_pipeline_new("p");  // a pipeline has a bus of its own
  ASSERT_TRUE(g_object_is_floating(raw));
  auto pipeline = adopt_floating<GstElementPtr>(raw);
  EXPECT_FALSE(g_object_is_floating(raw));
  EXPECT_EQ(refs(raw), 1);
  // A full reference ("transfer full") is taken over as it is.
  GstBus* bus_raw = gst_element_get_bus(raw);
  const int before = refs(bus_raw);
  { auto bus = adopt_floating<GstBusPtr>(bus_raw); }
  GstBusPtr again = element_bus(raw);
  EXPECT_EQ(refs(again.get()), before);
}

TEST_F(GstHandle, BinAddTakesItsOwnReferenceAndTheHandleKeepsOurs) {
  auto parent = adopt_floating<GstElementPtr>(gst_pipeline_new("p"));
  auto child = adopt_floating<GstElementPtr>(gst_bin_new("c"));
  ASSERT_TRUE(gst_bin_add(GST_BIN(parent.get()), child.get()));
  EXPECT_EQ(refs(child.get()), 2);
  EXPECT_EQ(bin_element(parent.get(), "c").get(), child.get());  // a new reference, released
  EXPECT_EQ(refs(child.get()), 2);
  parent.reset();  // the bin drops its reference to its child
  EXPECT_EQ(refs(child.get()), 1);
}

TEST_F(GstHandle, MoveTransfersOwnershipWithoutTouchingTheCount) {
  auto a = adopt_floating<GstElementPtr>(gst_bin_new("a"));
  GstElement* raw = a.get();
  GstElementPtr b = std::move(a);
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(refs(raw), 1);
  // Move-assigning over a handle releases what it held.
  gst_object_ref(raw);
  GstElementPtr c(raw);
  EXPECT_EQ(refs(raw), 2);
  c = std::move(b);
  EXPECT_EQ(refs(raw), 1);
  // release() hands the reference on (to a "transfer full" argument, here another handle).
  GstElementPtr d(c.release());
  EXPECT_EQ(c.get(), nullptr);
  EXPECT_EQ(refs(d.get()), 1);
}

TEST_F(GstHandle, ResetReleasesEarly) {
  auto bin = adopt_floating<GstElementPtr>(gst_bin_new("b"));
  GstElement* raw = bin.get();
  gst_object_ref(raw);
  GstElementPtr second(raw);
  second.reset();
  EXPECT_EQ(second.get(), nullptr);
  EXPECT_EQ(refs(raw), 1);
}

TEST_F(GstHandle, PadHandle) {
  auto pad = adopt_floating<GstPadPtr>(gst_pad_new("src", GST_PAD_SRC));
  EXPECT_FALSE(g_object_is_floating(pad.get()));
  EXPECT_EQ(refs(pad.get()), 1);
  auto element = adopt_floating<GstElementPtr>(gst_bin_new("e"));
  ASSERT_TRUE(gst_element_add_pad(element.get(), pad.get()));  // takes its own reference
  EXPECT_EQ(refs(pad.get()), 2);
  EXPECT_EQ(static_pad(element.get(), "src").get(), pad.get());
  EXPECT_EQ(refs(pad.get()), 2);
  EXPECT_EQ(static_pad(element.get(), "nope"), nullptr);
}

TEST_F(GstHandle, MiniObjectHandles) {
  GstCapsPtr caps(gst_caps_new_empty_simple("audio/x-raw"));
  GstCaps* caps_raw = caps.get();
  {
    GstCapsPtr second(gst_caps_ref(caps_raw));
    EXPECT_EQ(mini_refs(caps_raw), 2);
  }
  EXPECT_EQ(mini_refs(caps_raw), 1);

  GstBufferPtr buffer(gst_buffer_new_allocate(nullptr, 16, nullptr));
  GstBuffer* buf_raw = buffer.get();
  {
    // A sample holds its own reference to the buffer.
    GstSamplePtr sample(gst_sample_new(buf_raw, caps_raw, nullptr, nullptr));
    EXPECT_EQ(mini_refs(buf_raw), 2);
    EXPECT_EQ(mini_refs(caps_raw), 2);
    EXPECT_EQ(mini_refs(sample.get()), 1);
  }
  EXPECT_EQ(mini_refs(buf_raw), 1);
  EXPECT_EQ(mini_refs(caps_raw), 1);

  GstMessagePtr msg(gst_message_new_eos(nullptr));
  GstMessage* msg_raw = msg.get();
  GstMessagePtr second(gst_message_ref(msg_raw));
  GstMessagePtr moved = std::move(msg);
  EXPECT_EQ(mini_refs(msg_raw), 2);
  second.reset();
  EXPECT_EQ(mini_refs(msg_raw), 1);

  GstEventPtr ev(gst_event_new_eos());
  EXPECT_EQ(mini_refs(ev.get()), 1);
  GstStructurePtr st(gst_structure_new_empty("s"));
  EXPECT_TRUE(gst_structure_has_name(st.get(), "s"));
}

TEST(GlibHandle, GObjectHandleFinalizesOnLastRelease) {
  GObject* raw = G_OBJECT(g_object_new(G_TYPE_OBJECT, nullptr));
  gpointer watch = raw;
  g_object_add_weak_pointer(raw, &watch);
  {
    GObjectPtr<GObject> a(raw);
    GObjectPtr<GObject> b = ref_object(raw);
    EXPECT_EQ(raw->ref_count, 2u);
    a.reset();
    EXPECT_EQ(raw->ref_count, 1u);
    EXPECT_NE(watch, nullptr);
  }
  EXPECT_EQ(watch, nullptr);  // finalized
}

TEST(GlibHandle, OutPtrStoresTheErrorAndReplacesAnOldOne) {
  GErrorPtr err;
  g_set_error(out_ptr(err), G_FILE_ERROR, G_FILE_ERROR_NOENT, "first");
  ASSERT_TRUE(err);
  EXPECT_STREQ(err->message, "first");
  // Written again: the first error is freed (LeakSanitizer checks it in the ASan tree).
  g_set_error(out_ptr(err), G_FILE_ERROR, G_FILE_ERROR_NOENT, "second");
  EXPECT_STREQ(err->message, "second");
  // A call that does not fail leaves the handle empty.
  GErrorPtr none;
  GCharPtr uri(g_filename_to_uri("/tmp/x", nullptr, out_ptr(none)));
  EXPECT_FALSE(none);
  EXPECT_STREQ(uri.get(), "file:///tmp/x");
}

TEST(GlibHandle, ContextAndLoopHandles) {
  GMainContextPtr ctx(g_main_context_new());
  GMainLoopPtr loop(g_main_loop_new(ctx.get(), FALSE));  // the loop holds a context reference
  EXPECT_EQ(g_main_loop_get_context(loop.get()), ctx.get());
  GSourcePtr idle(g_idle_source_new());
  EXPECT_FALSE(g_source_is_destroyed(idle.get()));
}
