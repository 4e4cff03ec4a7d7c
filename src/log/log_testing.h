// Private to the log: fault injection for tests. Production code never calls
// these; they exist because a failing fdatasync cannot be provoked from a
// test otherwise (a full disk makes write() fail first).
//
// Threading: safe to call from any thread; affects every Log in the process.
#pragma once

namespace sluice::log::testing {

// The next `count` fdatasync calls on segment data fail with `errno_value`
// instead of running.
void FailNextSyncs(int count, int errno_value);

}  // namespace sluice::log::testing
