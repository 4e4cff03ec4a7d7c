// Private to the log: consumer offset files, DATA/log/consumers/<name>.offset
// (layout in log_format.h). A file is replaced atomically: written to
// <name>.offset.tmp, synced, renamed over the old one, directory synced.
//
// Threading: callers serialise writes of one consumer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::log {

using ConsumerOffsetMap = std::map<std::string, uint64_t, std::less<>>;

// 1–kMaxConsumerNameBytes characters from [A-Za-z0-9_.-], not "." or "..".
bool IsValidConsumerName(std::string_view name);

// Durably records that `name` has consumed everything before `next`.
Status WriteConsumerOffset(const std::string& consumers_dir, std::string_view name, uint64_t next);

// Reads every <name>.offset in `consumers_dir` (an absent directory is an
// empty map). Corruption naming the file when one fails its CRC or size.
// With `remove_temps`, leftovers of interrupted writes are deleted.
Result<ConsumerOffsetMap> LoadConsumerOffsets(const std::string& consumers_dir, bool remove_temps);

}  // namespace sluice::log
