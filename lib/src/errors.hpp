// Private helpers of lib/: errno-based errors in the one error style.
#pragma once

#include <podlens/result.hpp>

#include <cstring>
#include <string>

namespace podlens {

// "what: strerror(err)"; err may be a positive errno or a negative libbpf return.
inline Error errnoError(const std::string& what, int err) {
  return Error{what + ": " + std::strerror(err < 0 ? -err : err)};
}

}  // namespace podlens
