// Status and Result<T>: how every part of Sluice reports an expected failure.
//
// A Status is a code plus a human message; Ok carries no allocation. Result<T>
// holds either a value or a non-Ok Status. Both are [[nodiscard]]: dropping an
// error is a compile warning. Exceptions are reserved for programming errors and
// the CLI boundary.
//
// Threading: values; safe to move between threads, not to mutate concurrently.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed (bad JSON, bad flag, bad config)
  kNotFound,           // the named thing does not exist
  kAlreadyExists,      // creating something that is already there
  kCorruption,         // stored bytes fail their checksum or framing
  kIOError,            // the operating system refused a read/write/sync
  kResourceExhausted,  // back-pressure: a bound (bytes, queue) is reached; retry later
  kFailedPrecondition, // the system is not in a state that allows this (e.g. locked, closed)
  kUnauthenticated,    // missing or unknown credentials
  kTooLarge,           // a body or record exceeds its configured limit
  kInternal,           // an invariant broke; a bug
  kDeadlineExceeded,   // a bounded operation ran out of time (e.g. a query past its timeout)
};

// One word per code, used in logs and error bodies.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status TooLarge(std::string m) { return {StatusCode::kTooLarge, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
  // An IOError whose message ends with strerror(errno_value).
  static Status FromErrno(std::string_view what, int errno_value);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: bad crc at segment 3 byte 4096"; "OK" when ok.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an Ok status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: !ok() for a meaningful status; Ok when it holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  // REQUIRES: ok().
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not Ok.
#define SLUICE_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::sluice::Status _sluice_st = (expr);         \
    if (!_sluice_st.ok()) return _sluice_st;      \
  } while (0)

// `SLUICE_ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define SLUICE_ASSIGN_OR_RETURN(lhs, expr) \
  SLUICE_ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(_sluice_res_, __LINE__), lhs, expr)
#define SLUICE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
