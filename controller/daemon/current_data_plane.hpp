// This build's data plane under the pin root, whatever a previous version left there.
//
// The controller owns the pinned data plane. Pins of the same build (the kernel's program tags
// match) are reused, which is what lets a restart detach nothing. Pins of another build (an
// upgrade or a rollback, whether or not its ABI differs) are replaced: this build's object is
// loaded, every attachment is moved onto its programs in place (tcx links updated, clsact
// filters replaced: no moment unobserved), and the new pins are published instead of the old.
// Connections in flight resynchronise; events still queued in the retired ring buffer are lost
// (logged). podlens-cni commands wait on the node-wide state lock meanwhile.
#pragma once

#include <podlens/dataplane.hpp>

#include <memory>
#include <string>

namespace podlens::daemon {

enum class DataPlaneOrigin { kReused, kLoaded, kReplaced };

struct CurrentDataPlane {
  std::unique_ptr<DataPlane> plane;
  DataPlaneOrigin origin = DataPlaneOrigin::kReused;
};

Result<CurrentDataPlane> openCurrentDataPlane(const std::string& bpffsRoot,
                                              const std::string& stateDir,
                                              const DataPlaneOptions& options);

}  // namespace podlens::daemon
