// Private to the profile part: ProfileStore's state, shared by the store
// (reads, attributes) and the builder (the one writer), and the values a
// segment rule reads.
//
// Threading: as ProfileStore (RocksDB handles and the read cache are safe for concurrent use;
// everything else is immutable after Open, except the counters).
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "profile/profile.h"
#include "profile/profile_format.h"
#include "profile/profile_json.h"
#include "profile/read_cache.h"

namespace sluice::profile {

struct CompiledSegment {
  std::string name;
  stream::Expression rule;
};

// What a segment rule's names resolve to: a feature (by name), "traits.X"
// (identify traits), else an attribute (top level, or a dotted path into one).
class ProfileValues : public stream::ValueResolver {
 public:
  ProfileValues(const stream::FeatureSet& set, const std::vector<stream::FeatureValue>& features,
                const JsonFields& attributes, const JsonFields& traits)
      : set_(set), features_(features), attributes_(attributes), traits_(traits) {}
  stream::Value Resolve(std::string_view name) const override;

 private:
  const stream::FeatureSet& set_;
  const std::vector<stream::FeatureValue>& features_;
  const JsonFields& attributes_;
  const JsonFields& traits_;
};

struct ProfileStore::Impl {
  ~Impl();
  ProfileOptions options;
  std::optional<stream::FeatureSet> features;
  std::vector<CompiledSegment> segments;
  // Some segment rule names an attribute (not a feature, not traits.X): a
  // checkpoint must then read each changed profile's attributes.
  bool segments_read_attributes = false;
  // What segment rules read besides attributes: the features they name (in
  // set order) and whether any reads traits.X. A checkpoint evaluates only these.
  std::vector<size_t> segment_features;
  bool segments_read_traits = false;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* meta = nullptr;  // the default family
  rocksdb::ColumnFamilyHandle* profiles = nullptr;
  rocksdb::ColumnFamilyHandle* identities = nullptr;
  rocksdb::ColumnFamilyHandle* attributes = nullptr;
  rocksdb::ColumnFamilyHandle* segment_index = nullptr;
  rocksdb::ColumnFamilyHandle* quarantine = nullptr;
  rocksdb::ColumnFamilyHandle* links = nullptr;
  rocksdb::ColumnFamilyHandle* reviews = nullptr;
  rocksdb::ColumnFamilyHandle* outbox = nullptr;  // segment webhook posts (segment_webhook.h)
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; destroyed before db
  std::shared_ptr<rocksdb::Cache> block_cache;        // shared by the families
  std::unique_ptr<ReadCache> read_cache;              // GetJson's, by profile key

  // Normalises emails and phones asked for on the read path as the graph
  // stored them.
  std::optional<identity::Normalizer> normalizer;

  // The canonical key of `id` and the record and attributes stored under it
  // (userId first, then anonymousId, then, normalised, an email, a phone, a
  // TYPE:VALUE external id; each directly or through its link), each
  // profile through ReadProfile. NotFound when none is known.
  Result<ReadCache::EntryPtr> Find(std::string_view id, std::string* key) const;
  // The record and attributes stored under profile key `key`, from the read
  // cache or else read (and then cached); nullptr when it holds no profile.
  Result<ReadCache::EntryPtr> ReadProfile(const std::string& key) const;
  // Stored attributes of a profile key (empty when none).
  Status ReadAttributes(const std::string& key, JsonFields* out) const;
  // The ONE way to write the profiles or attributes family (read_cache.h's
  // invariant): applies `batch`, then invalidates every key of those two
  // families it touched.
  Status Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch, std::string_view what);
};

// `"userId":"…"` (or anonymousId, email, phone, externalId): the JSON member
// naming a profile by its key.
void AppendProfileIdMember(std::string* out, std::string_view key);

// RocksDB status → Sluice status, with context.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

// Compiles options.features_yaml and options.segments.
Result<stream::FeatureSet> CompileFeatures(const ProfileOptions& options);
Result<std::vector<CompiledSegment>> CompileSegments(const ProfileOptions& options, const stream::FeatureSet& set);

}  // namespace sluice::profile
