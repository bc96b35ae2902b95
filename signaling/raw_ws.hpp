// A deliberately minimal WebSocket client over a plain TCP socket, for load tools and tests
// that behave like an attacker: it can stop half-way through a handshake, send requests and
// never read the replies, or sit idle. Everything is non-blocking with a deadline; `pump`
// (if given) runs while waiting, so a tracker on the same GLib main loop keeps serving.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace meshcast::signaling::raw {

using Pump = std::function<void()>;

// Connects to 127.0.0.1:port. rcvbuf_bytes > 0 shrinks the receive buffer before connecting
// (an attacker that reads nothing wants the server's replies to back up early). `from` binds
// the source address (any of 127.0.0.0/8: several "clients" on one machine). -1 on failure.
int connect_loopback(uint16_t port, int rcvbuf_bytes = 0, int timeout_ms = 5000,
                     const Pump& pump = {}, const char* from = nullptr);
// Writes all of `data` (false on error or when the deadline passes).
bool send_all(int fd, const std::string& data, int timeout_ms = 5000, const Pump& pump = {});
// Sends the upgrade request for /ws and reads the response head; true on "101". `trailing`
// goes out in the same write as the request (frames sent before the answer arrives).
bool handshake(int fd, uint16_t port, int timeout_ms = 5000, const Pump& pump = {},
               const std::string& trailing = "");
// One client-to-server text frame (masked, as the protocol requires).
std::string text_frame(const std::string& payload);
// Reads the next text frame from the server (control frames are skipped); nullopt on close,
// error or deadline. Reads byte-exact: nothing after the frame is consumed.
std::optional<std::string> read_text(int fd, int timeout_ms = 5000, const Pump& pump = {});
// True when the server has closed or reset the connection (FIN or RST seen), without reading
// any queued data: the kernel's TCP state is asked.
bool closed_by_peer(int fd);

}  // namespace meshcast::signaling::raw
