#include "common/status.h"

#include <cstring>

namespace isdas {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kCorruption:
      return "corruption";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kUnauthenticated:
      return "unauthenticated";
    case ErrorKind::kResourceExhausted:
      return "resource exhausted";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(ErrorKindName(kind_));
  s += ": ";
  s += message_;
  return s;
}

Status ErrnoError(std::string_view what, int err) {
  std::string m(what);
  m += ": ";
  m += std::strerror(err);
  return IoError(std::move(m));
}

}  // namespace isdas
