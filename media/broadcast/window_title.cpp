#include "media/broadcast/window_title.hpp"

#include "media/common/gst_handle.hpp"

#ifdef MESHCAST_HAVE_GL_X11
#include <gst/gl/gl.h>
// Xlib last: its macros (None, Bool, Status) clash with other headers.
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#endif

namespace meshcast::media {

#ifdef MESHCAST_HAVE_GL_X11
bool set_gl_window_title(GstElement* sink, const std::string& title) {
  if (!sink || !g_object_class_find_property(G_OBJECT_GET_CLASS(sink), "context")) return false;
  GstGLContext* raw = nullptr;
  g_object_get(sink, "context", &raw, nullptr);
  GstPtr<GstGLContext> context(raw);
  if (!context) return false;
  bool done = false;
  GstPtr<GstGLDisplay> display(gst_gl_context_get_display(context.get()));
  GstPtr<GstGLWindow> window(gst_gl_context_get_window(context.get()));
  if (display && window &&
      (gst_gl_display_get_handle_type(display.get()) & GST_GL_DISPLAY_TYPE_X11)) {
    const auto handle = static_cast<::Window>(gst_gl_window_get_window_handle(window.get()));
    // Our own connection (same $DISPLAY): the sink's is driven by its own thread.
    if (::Display* dpy = handle ? XOpenDisplay(nullptr) : nullptr) {
      XStoreName(dpy, handle, title.c_str());
      const Atom utf8 = XInternAtom(dpy, "UTF8_STRING", False);
      XChangeProperty(dpy, handle, XInternAtom(dpy, "_NET_WM_NAME", False), utf8, 8,
                      PropModeReplace, reinterpret_cast<const unsigned char*>(title.data()),
                      static_cast<int>(title.size()));
      XSync(dpy, False);
      XCloseDisplay(dpy);
      done = true;
    }
  }
  return done;
}
#else
bool set_gl_window_title(GstElement*, const std::string&) { return false; }
#endif

}  // namespace meshcast::media
