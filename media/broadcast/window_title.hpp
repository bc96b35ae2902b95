#pragma once
// glimagesink names its own window "OpenGL renderer" and ignores GST_TAG_TITLE (the X sinks
// take the title from the tag). This sets the title of glimagesink's internal X11 window
// directly. Built only with gstreamer-gl + libX11; otherwise it returns false.

#include <gst/gst.h>

#include <string>

namespace meshcast::media {

// True once the title is set; false if the sink has no X11 window (yet) or support is not
// built in. Safe to call from a streaming thread.
bool set_gl_window_title(GstElement* glimagesink, const std::string& title);

}  // namespace meshcast::media
