// The six CNI commands. Each returns what goes to stdout (nothing for DEL, CHECK, GC, STATUS)
// or an Error carrying a CNI error code. Telemetry faults follow the config's failPolicy:
// open logs and counts them (PodRecordStore::recordFault) and lets the pod proceed; closed
// fails the command.
#pragma once

#include <podlens/result.hpp>

#include <nlohmann/json.hpp>

#include <optional>

#include "cni_protocol.hpp"

namespace podlens::cni {

using Reply = std::optional<nlohmann::json>;

Result<Reply> runCommand(const Environment& env, const PluginConfig& config);

Result<Reply> cmdAdd(const Environment& env, const PluginConfig& config);
Result<Reply> cmdDel(const Environment& env, const PluginConfig& config);
Result<Reply> cmdCheck(const Environment& env, const PluginConfig& config);
Result<Reply> cmdGc(const PluginConfig& config);
Result<Reply> cmdStatus(const PluginConfig& config);

}  // namespace podlens::cni
