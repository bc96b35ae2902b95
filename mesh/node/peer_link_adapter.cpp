#include "mesh/node/peer_link_adapter.hpp"

namespace meshcast::node {

std::unique_ptr<Link> PeerLinkAdapter::create(GMainContext* ctx, const link::LinkConfig& config,
                                              std::shared_ptr<link::Certificate> cert,
                                              link::Role role, std::string& error) {
  auto l = link::PeerLink::create(ctx, config, std::move(cert), role, error);
  if (!l) return nullptr;
  return std::make_unique<PeerLinkAdapter>(std::move(l));
}

}  // namespace meshcast::node
