// The one error style of podlens: a value or an Error that says what failed, on what, and what
// to do. No exceptions cross module boundaries; functions that cannot fail return plain values.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace podlens {

struct Error {
  std::string message;
  int code = 0;  // a protocol's error code where one applies (CNI's for podlens-cni), else 0

  // Prepends context: "loading BPF object: <message>".
  Error context(const std::string& what) const { return Error{what + ": " + message, code}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// For operations with no value to return.
struct Ok {};
using Status = Result<Ok>;

inline Status ok() { return Ok{}; }

}  // namespace podlens
