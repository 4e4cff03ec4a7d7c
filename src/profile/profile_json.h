// Private to the profile part: the JSON objects a profile carries (identify
// traits, attributes) as sorted key → JSON text maps, and their conversion
// to the stream part's typed values for segment rules.
//
// Threading: pure functions (each thread parses with its own parser).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"
#include "stream/stream.h"

namespace sluice::profile {

// Top-level key → the value's JSON text (minified), sorted by key.
using JsonFields = std::map<std::string, std::string, std::less<>>;

// Merges the members of the JSON object `text` into *fields (a key present
// in both takes `text`'s value). Empty text merges nothing. InvalidArgument
// when `text` is not a JSON object.
Status MergeJsonObject(std::string_view text, JsonFields* fields);
// `{"k":v,…}` in key order.
void AppendJsonObject(std::string* out, const JsonFields& fields);

// The value at `path` ("plan", "address.city") in `fields`: a JSON number,
// string, bool or null as a stream::Value; objects, arrays and missing
// paths are null.
stream::Value JsonFieldValue(const JsonFields& fields, std::string_view path);

}  // namespace sluice::profile
