#pragma once
#include <string>

namespace meshcast::testing {
// Asks the window called `name` on `display` to close, as a window manager's close button
// does (WM_PROTOCOLS / WM_DELETE_WINDOW client message). False if there is no such window.
bool send_close_window(const std::string& display, const std::string& name);
}  // namespace meshcast::testing
