// The HTML served on GET /. Kept in its own file so the dashboard can replace it wholesale.
#pragma once
#include <string>

namespace meshcast::signaling {
const std::string& dashboard_html();
}
