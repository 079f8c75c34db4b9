// What the event thread needs to attribute a kernel event: which pod owns an interface, and
// the routes of the policy that selected the flow. Built by the reconciler, immutable once
// published, shared through shared_ptr<const NodeView>.
#pragma once

#include <podlens/controller/aggregator.hpp>
#include <podlens/controller/selectors.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace podlens::daemon {

struct PodRef {
  std::string namespace_;
  std::string name;
};

struct NodeView {
  std::unordered_map<uint32_t, controller::PodId> podsByIfindex;  // host-side veth → pod
  std::shared_ptr<const controller::PolicyTable> policies =
      std::make_shared<controller::PolicyTable>();
};

}  // namespace podlens::daemon
