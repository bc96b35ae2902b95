// Kept apart from the tests: Xlib's macros (None, Bool, Status) clash with C++ headers.
#include "tests/integration/viewer_window/x11_close.hpp"

#include <X11/Xatom.h>
#include <X11/Xlib.h>

#include <vector>

namespace meshcast::testing {

// Asks the window called `name` to close, as a window manager's close button does
// (WM_PROTOCOLS / WM_DELETE_WINDOW client message).
bool send_close_window(const std::string& display, const std::string& name) {
  Display* dpy = XOpenDisplay(display.c_str());
  if (!dpy) return false;
  bool sent = false;
  std::vector<Window> todo{DefaultRootWindow(dpy)};
  while (!todo.empty() && !sent) {
    Window w = todo.back();
    todo.pop_back();
    char* wname = nullptr;
    if (XFetchName(dpy, w, &wname) && wname) {
      if (name == wname) {
        XEvent ev{};
        ev.xclient.type = ClientMessage;
        ev.xclient.window = w;
        ev.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", True);
        ev.xclient.format = 32;
        ev.xclient.data.l[0] = long(XInternAtom(dpy, "WM_DELETE_WINDOW", False));
        ev.xclient.data.l[1] = CurrentTime;
        sent = XSendEvent(dpy, w, False, NoEventMask, &ev) != 0;
        XFlush(dpy);
      }
      XFree(wname);
    }
    Window root_ret, parent_ret;
    Window* children = nullptr;
    unsigned n = 0;
    if (XQueryTree(dpy, w, &root_ret, &parent_ret, &children, &n)) {
      for (unsigned i = 0; i < n; ++i) todo.push_back(children[i]);
      if (children) XFree(children);
    }
  }
  XCloseDisplay(dpy);
  return sent;
}

}  // namespace meshcast::testing
