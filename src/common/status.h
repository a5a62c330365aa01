#pragma once

// Status and Result<T>: how every fallible call in isdas reports failure.
// No exception crosses a module's API; callers branch on Status::kind(), never on the
// message text (the message is for people).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace isdas {

enum class ErrorKind {
  kOk = 0,
  kInvalidArgument,    // caller gave a bad value (flag, config key, parameter)
  kCorruption,         // stored or received bytes violate their format
  kIo,                 // the operating system refused a read/write/open
  kUnavailable,        // a peer or resource is temporarily not there; retry may help
  kUnauthenticated,    // identity missing or not trusted
  kResourceExhausted,  // a configured limit was reached
  kNotFound,           // the thing asked for does not exist
  kInternal,           // a bug in isdas
};

std::string_view ErrorKindName(ErrorKind kind);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return kind_ == ErrorKind::kOk; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // "corruption: <message>"
  std::string ToString() const;

 private:
  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {ErrorKind::kInvalidArgument, std::move(m)}; }
inline Status Corruption(std::string m) { return {ErrorKind::kCorruption, std::move(m)}; }
inline Status IoError(std::string m) { return {ErrorKind::kIo, std::move(m)}; }
inline Status NotFound(std::string m) { return {ErrorKind::kNotFound, std::move(m)}; }
inline Status Internal(std::string m) { return {ErrorKind::kInternal, std::move(m)}; }
// IoError with strerror(errno) appended: "open /x: No such file or directory".
Status ErrnoError(std::string_view what, int err);

// A value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace isdas

#define ISDAS_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::isdas::Status isdas_status_ = (expr);        \
    if (!isdas_status_.ok()) return isdas_status_; \
  } while (0)
