// Private to the log: the LogReader over a SegmentTable.
//
// Threading: one reader per thread; it reads the table under its mutex only
// when it reaches the durable end it last saw or changes segment.
#pragma once

#include <memory>

#include "core/status.h"
#include "log/log.h"
#include "log/segment.h"

namespace sluice::log {

// NotFound when `from` precedes the oldest segment; InvalidArgument when it is
// past the durable end; Corruption when the framing before `from` in its
// segment is broken.
Result<std::unique_ptr<LogReader>> NewSegmentReader(std::shared_ptr<const SegmentTable> table, LogOffset from);

}  // namespace sluice::log
