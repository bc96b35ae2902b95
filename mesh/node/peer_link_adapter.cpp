#include "mesh/node/peer_link_adapter.hpp"

namespace meshcast::node {

Expected<std::unique_ptr<Link>, std::string> PeerLinkAdapter::create(
    GMainContext* ctx, const link::LinkConfig& config, std::shared_ptr<link::Certificate> cert,
    link::Role role) {
  auto l = link::PeerLink::create(ctx, config, std::move(cert), role);
  if (!l) return unexpected(std::move(l).error());
  return std::unique_ptr<Link>(std::make_unique<PeerLinkAdapter>(std::move(*l)));
}

}  // namespace meshcast::node
