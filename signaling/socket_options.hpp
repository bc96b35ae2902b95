// Two Linux socket facts the tracker needs and GLib does not offer: TCP keepalive timing and
// how many bytes the peer's TCP has acknowledged (to tell how much of what we wrote is still
// sitting in our queues).
#pragma once
#include <cstdint>
#include <optional>

namespace meshcast::signaling {

// SO_KEEPALIVE on, first probe after idle_s of silence, then every interval_s, `count`
// unanswered probes drop the connection. False if the kernel refused an option.
bool set_tcp_keepalive(int fd, int idle_s, int interval_s, int count);
// SO_LINGER {on, 0}: closing the socket resets the connection and frees whatever is still
// queued for the peer at once, instead of keeping it (orphaned) until the peer reads it.
void set_abortive_close(int fd);
// Bytes in the socket's send queue not yet acknowledged by the peer (SIOCOUTQ); 0 on error.
int unsent_in_kernel(int fd);
// tcpi_bytes_acked of TCP_INFO (Linux >= 4.1); nullopt when unavailable.
std::optional<uint64_t> tcp_bytes_acked(int fd);

}  // namespace meshcast::signaling
