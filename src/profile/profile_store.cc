// ProfileStore: the RocksDB database, identity lookups and the JSON a
// profile is served as.
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "core/coding.h"
#include "core/event.h"
#include "profile/profile_store_impl.h"

namespace sluice::profile {

namespace {

constexpr size_t kMaxSegmentNameBytes = 128;

bool IsValidSegmentName(std::string_view name) {
  if (name.empty() || name.size() > kMaxSegmentNameBytes) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

std::string_view KindName(char kind) {
  switch (kind) {
    case kUserKind: return "userId";
    case kEmailKind: return "email";
    case kPhoneKind: return "phone";
    case kExternalKind: return "externalId";
    default: return "anonymousId";
  }
}

void AppendIdentity(std::string* out, std::string_view kind_and_id) {
  *out += "{\"type\":\"";
  *out += KindName(kind_and_id[0]);
  *out += "\",\"id\":";
  AppendJsonString(out, kind_and_id.substr(1));
  out->push_back('}');
}

// Appends `t` as a quoted ISO-8601 string. A profile repeats a few times
// (as_of, bucket-aligned window ends) many times over, and formatting one
// costs more than copying it: recent ones are copied from the output itself.
class TimeWriter {
 public:
  explicit TimeWriter(std::string* out) : out_(out) {}
  void Append(UnixMicros t) {
    for (const Seen& s : seen_) {
      if (s.len && s.t == t) {
        out_->append(*out_, s.pos, s.len);
        return;
      }
    }
    const size_t pos = out_->size();
    out_->push_back('"');
    AppendIso8601(out_, t);
    out_->push_back('"');
    seen_[next_++ % kSeen] = {t, pos, out_->size() - pos};
  }

 private:
  static constexpr size_t kSeen = 4;
  struct Seen {
    UnixMicros t = 0;
    size_t pos = 0, len = 0;
  };
  std::string* out_;
  Seen seen_[kSeen];
  size_t next_ = 0;
};

}  // namespace

std::string ProfileKeyName(std::string_view key) {
  Result<identity::Identifier> id = IdentifierOfKey(key);
  return id.ok() ? id->Key() : std::string(key);
}

void AppendProfileIdMember(std::string* out, std::string_view key) {
  out->push_back('"');
  *out += KindName(key[0]);
  *out += "\":";
  AppendJsonString(out, key.substr(1));
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string m = "profiles: " + std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(m);
  if (s.IsCorruption()) return Status::Corruption(m);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(m);
  return Status::IOError(m);
}

stream::Value ProfileValues::Resolve(std::string_view name) const {
  constexpr std::string_view kTraits = "traits.";
  if (name.substr(0, kTraits.size()) == kTraits) return JsonFieldValue(traits_, name.substr(kTraits.size()));
  int i = set_.Find(name);
  if (i >= 0 && static_cast<size_t>(i) < features_.size()) return features_[i].value;
  return JsonFieldValue(attributes_, name);
}

Result<stream::FeatureSet> CompileFeatures(const ProfileOptions& options) {
  if (options.features_yaml.empty()) return stream::FeatureSet::Defaults();
  auto set = stream::FeatureSet::Parse(options.features_yaml);
  if (!set.ok()) return Status::InvalidArgument("profiles features: " + set.status().message());
  return set;
}

Result<std::vector<CompiledSegment>> CompileSegments(const ProfileOptions& options, const stream::FeatureSet& set) {
  std::vector<CompiledSegment> out;
  for (const SegmentDefinition& d : options.segments) {
    if (!IsValidSegmentName(d.name)) {
      return Status::InvalidArgument("segment \"" + d.name + "\": a name is 1-128 of [A-Za-z0-9_.-]");
    }
    for (const CompiledSegment& c : out) {
      if (c.name == d.name) return Status::InvalidArgument("segment \"" + d.name + "\": defined twice");
    }
    auto rule = stream::Expression::Parse(d.rule);
    if (!rule.ok()) return Status::InvalidArgument("segment \"" + d.name + "\": " + rule.status().message());
    out.push_back({d.name, std::move(*rule)});
  }
  return out;
}

Status ValidateProfileOptions(const ProfileOptions& options) {
  SLUICE_ASSIGN_OR_RETURN(stream::FeatureSet set, CompileFeatures(options));
  SLUICE_RETURN_IF_ERROR(CompileSegments(options, set).status());
  if (options.checkpoint_interval_ms < 1) return Status::InvalidArgument("profiles checkpoint interval must be positive");
  if (options.checkpoint_events < 1) return Status::InvalidArgument("profiles checkpoint_events must be positive");
  if (options.checkpoint_profiles < 1) return Status::InvalidArgument("profiles checkpoint_profiles must be positive");
  if (options.segment_webhook_outbox_max < 1) {
    return Status::InvalidArgument("profiles segment_webhook_outbox_max must be positive");
  }
  return Status::Ok();
}

Result<FieldSelection> ParseFieldSelection(std::string_view text) {
  FieldSelection sel;
  if (text.empty()) return sel;
  sel.sections = 0;
  constexpr std::string_view kFeaturePrefix = "features.";
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view f = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (f.empty()) continue;
    if (f == "traits") sel.sections |= kFieldTraits;
    else if (f == "attributes") sel.sections |= kFieldAttributes;
    else if (f == "features") sel.sections |= kFieldFeatures;
    else if (f == "segments") sel.sections |= kFieldSegments;
    else if (f == "identities") sel.sections |= kFieldIdentities;
    else if (f.substr(0, kFeaturePrefix.size()) == kFeaturePrefix && f.size() > kFeaturePrefix.size()) {
      sel.features.emplace_back(f.substr(kFeaturePrefix.size()));
    } else {
      return Status::InvalidArgument("fields: unknown field \"" + std::string(f) +
                                     "\" (traits, attributes, features, features.NAME, segments, identities)");
    }
  }
  if (!sel.features.empty()) sel.sections |= kFieldFeatures;
  return sel;
}

ProfileStore::ProfileStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProfileStore::~ProfileStore() = default;

ProfileStore::Impl::~Impl() {
  // Also on Open's error paths: RocksDB asserts that every handle is gone
  // before the database is.
  if (!db) return;
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
}

const ProfileOptions& ProfileStore::options() const { return impl_->options; }

Result<std::unique_ptr<ProfileStore>> ProfileStore::Open(const ProfileOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  SLUICE_ASSIGN_OR_RETURN(stream::FeatureSet set, CompileFeatures(options));
  impl->features.emplace(std::move(set));
  SLUICE_ASSIGN_OR_RETURN(impl->segments, CompileSegments(options, *impl->features));
  for (const CompiledSegment& seg : impl->segments) {
    for (const std::string& name : seg.rule.Names()) {
      const int feature = impl->features->Find(name);
      if (feature >= 0) {
        impl->segment_features.push_back(static_cast<size_t>(feature));
      } else if (name.rfind("traits.", 0) == 0) {
        impl->segments_read_traits = true;
      } else {
        impl->segments_read_attributes = true;
      }
    }
  }
  std::sort(impl->segment_features.begin(), impl->segment_features.end());
  impl->segment_features.erase(std::unique(impl->segment_features.begin(), impl->segment_features.end()),
                               impl->segment_features.end());

  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options.db_path).parent_path(), ec);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::BlockBasedTableOptions table;
  // Point lookups dominate (two Gets per profile read, one per cold
  // profile): a Bloom filter answers "not here" without touching data
  // blocks; a hash index inside each data block finds the key without a
  // binary search over it; the block cache keeps profiles uncompressed in
  // memory (a miss costs a file read and a Snappy decompression, which was
  // a third of a read's CPU time with a cache smaller than the store).
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  impl->block_cache = table.block_cache;
  impl->read_cache = std::make_unique<ReadCache>(options.read_cache_bytes);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // A checkpoint writes its profiles in key order (one batch, one writer):
  // with a hint per key kind (the first byte), each skip-list insert starts
  // from the previous one instead of the list's head. The memtable insert
  // was ~20 % of the consumer; this made it ×1.11–1.19 faster end to end
  // (docs/benchmarks.md). Hints apply to non-concurrent inserts only, which
  // a single writer's batches are.
  cf_options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  // The memtable gets a Bloom filter of whole keys too: the tables' filter
  // does not cover it, and a Get of a key it lacks otherwise walks its skip
  // list — a new user's profile, a new identifier's (Reconcile) — with a
  // cache miss per level. With a million new users that walk was a fifth
  // of the builder's time. 2 % of the write buffer (1.3 MB of 64 MB) gives
  // ≥ 10 bits per key for memtables of up to a million keys.
  cf_options.memtable_whole_key_filtering = true;
  cf_options.memtable_prefix_bloom_size_ratio = 0.02;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf_options}, {kProfilesFamily, cf_options},
      {kIdentitiesFamily, cf_options},                 {kAttributesFamily, cf_options},
      {kSegmentsFamily, rocksdb::ColumnFamilyOptions()}, {kQuarantineFamily, rocksdb::ColumnFamilyOptions()},
      {kLinksFamily, rocksdb::ColumnFamilyOptions()}, {kReviewsFamily, rocksdb::ColumnFamilyOptions()},
      {kOutboxFamily, rocksdb::ColumnFamilyOptions()}};
  rocksdb::DB* raw = nullptr;
  SLUICE_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, options.db_path, families, &impl->handles, &raw),
                                   "cannot open " + options.db_path));
  impl->db.reset(raw);
  impl->meta = impl->handles[0];
  impl->profiles = impl->handles[1];
  impl->identities = impl->handles[2];
  impl->attributes = impl->handles[3];
  impl->segment_index = impl->handles[4];
  impl->quarantine = impl->handles[5];
  impl->links = impl->handles[6];
  impl->reviews = impl->handles[7];
  impl->outbox = impl->handles[8];
  impl->normalizer.emplace(options.identity.graph.normalize);

  std::string format;
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), impl->meta, kMetaFormat, &format);
  if (s.IsNotFound()) {
    std::string v;
    PutFixed32(&v, kProfileFormatVersion);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    SLUICE_RETURN_IF_ERROR(FromRocks(impl->db->Put(wo, impl->meta, kMetaFormat, v), "write format version"));
  } else {
    SLUICE_RETURN_IF_ERROR(FromRocks(s, "read format version"));
    if (format.size() != 4) return Status::Corruption("profiles: " + options.db_path + " has a bad format version");
    const uint32_t version = DecodeFixed32(format.data());
    if (version == 1) {
      return Status::FailedPrecondition(
          "profiles: " + options.db_path +
          " has layout version 1 (exact identity links, before the identity graph); this build reads version " +
          std::to_string(kProfileFormatVersion) +
          ". Stop the server, move that directory away and start again: profiles are rebuilt from the log "
          "records it still retains");
    }
    if (version != kProfileFormatVersion) {
      return Status::Corruption("profiles: " + options.db_path + " has an unknown format version " +
                                std::to_string(version));
    }
  }
  return std::unique_ptr<ProfileStore>(new ProfileStore(std::move(impl)));
}

Result<std::vector<IdentityMapEntry>> ReadIdentityMap(const ProfileOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path + "/CURRENT", ec)) return std::vector<IdentityMapEntry>{};
  // Read-only RocksDB takes no lock and may open a subset of the families.
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kLinksFamily, rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  SLUICE_RETURN_IF_ERROR(FromRocks(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), options.db_path, families,
                                                                &handles, &raw),
                                   "cannot open " + options.db_path + " read-only"));
  std::unique_ptr<rocksdb::DB> db(raw);
  struct Handles {
    rocksdb::DB* db;
    std::vector<rocksdb::ColumnFamilyHandle*>& h;
    ~Handles() {
      for (auto* x : h) (void)db->DestroyColumnFamilyHandle(x);
    }
  } release{db.get(), handles};
  std::string format;
  SLUICE_RETURN_IF_ERROR(FromRocks(db->Get(rocksdb::ReadOptions(), handles[0], kMetaFormat, &format), "read format version"));
  if (format.size() != 4 || DecodeFixed32(format.data()) != kProfileFormatVersion) {
    return Status::FailedPrecondition("profiles: " + options.db_path + " has another layout version than " +
                                      std::to_string(kProfileFormatVersion) + " (start the server to see why)");
  }
  std::vector<identity::LinkRecord> links;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[1]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Result<identity::LinkRecord> link = identity::DecodeLinkRecord(std::string_view(it->value().data(), it->value().size()));
    if (!link.ok()) return Status::Corruption("profiles: links family: " + link.status().message());
    links.push_back(std::move(link).value());
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read links"));
  it.reset();
  SLUICE_ASSIGN_OR_RETURN(identity::IdentityGraph graph,
                          identity::IdentityGraph::FromLinks(std::move(links), options.identity.graph));
  std::map<identity::Identifier, int64_t> linked_at;
  for (const identity::LinkRecord& l : graph.Links()) {
    if (l.state != identity::LinkState::kAccepted) continue;
    for (const identity::Identifier* end : {&l.a, &l.b}) {
      auto [slot, fresh] = linked_at.try_emplace(*end, l.evidence.time_ms);
      if (!fresh) slot->second = std::min(slot->second, l.evidence.time_ms);
    }
  }
  std::vector<IdentityMapEntry> out;
  for (auto& [id, canonical] : graph.CanonicalMap()) {
    auto at = linked_at.find(id);
    if (at == linked_at.end()) continue;  // only refused or removed links: a profile of its own
    out.push_back({id, canonical, at->second});
  }
  return out;
}

Result<ReadCache::EntryPtr> ProfileStore::Impl::Find(std::string_view id, std::string* key) const {
  // The profile stored under profile key `k`, or under the canonical key `k`
  // is linked to; nullptr when neither exists.
  auto lookup = [&](std::string k) -> Result<ReadCache::EntryPtr> {
    SLUICE_ASSIGN_OR_RETURN(ReadCache::EntryPtr entry, ReadProfile(k));
    if (!entry) {
      std::string canonical;
      rocksdb::Status s = db->Get(rocksdb::ReadOptions(), identities, k, &canonical);
      if (s.IsNotFound()) return ReadCache::EntryPtr();
      SLUICE_RETURN_IF_ERROR(FromRocks(s, "read identity"));
      SLUICE_ASSIGN_OR_RETURN(entry, ReadProfile(canonical));
      if (!entry) return ReadCache::EntryPtr();  // linked before the profile had events
      k = std::move(canonical);
    }
    *key = std::move(k);
    return entry;
  };
  // Bare ids first, so the common case costs what it did before the graph;
  // only when they miss is an id that reads as an email, phone or external
  // id normalised the way the graph stored it.
  for (std::string k : {UserKey(id), AnonymousKey(id)}) {
    SLUICE_ASSIGN_OR_RETURN(ReadCache::EntryPtr entry, lookup(std::move(k)));
    if (entry) return entry;
  }
  for (identity::IdType type : {identity::IdType::kEmail, identity::IdType::kPhone, identity::IdType::kExternalId}) {
    const bool plausible = type == identity::IdType::kEmail   ? id.find('@') != std::string_view::npos
                           : type == identity::IdType::kPhone ? !id.empty() && (id[0] == '+' || std::isdigit(static_cast<unsigned char>(id[0])))
                                                              : id.find(':') != std::string_view::npos;
    if (!plausible) continue;
    Result<identity::Identifier> normalised = normalizer->Normalize(type, id);
    if (!normalised.ok()) continue;
    SLUICE_ASSIGN_OR_RETURN(ReadCache::EntryPtr entry, lookup(ProfileKey(*normalised)));
    if (entry) return entry;
  }
  return Status::NotFound("no profile for id \"" + std::string(id) + "\"");
}

Result<ReadCache::EntryPtr> ProfileStore::Impl::ReadProfile(const std::string& key) const {
  if (ReadCache::EntryPtr cached = read_cache->Lookup(key)) return cached;
  const uint64_t ticket = read_cache->Ticket();  // before the Gets: read_cache.h
  rocksdb::ReadOptions ro;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db->Get(ro, profiles, key, &value);
  if (s.IsNotFound()) return ReadCache::EntryPtr();
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "read profile"));
  auto entry = std::make_shared<ReadCache::Entry>();
  entry->record.assign(value.data(), value.size());
  value.Reset();
  s = db->Get(ro, attributes, key, &value);
  if (!s.IsNotFound()) {
    SLUICE_RETURN_IF_ERROR(FromRocks(s, "read attributes"));
    entry->attributes.assign(value.data(), value.size());
  }
  read_cache->Insert(key, ticket, entry);
  return ReadCache::EntryPtr(std::move(entry));
}

Status ProfileStore::Impl::Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch,
                                 std::string_view what) {
  SLUICE_RETURN_IF_ERROR(FromRocks(db->Write(options, batch), what));
  if (!read_cache->enabled()) return Status::Ok();
  // Walks the applied batch rather than trusting each writer to list its
  // keys: whatever a future writer puts in a batch is invalidated too.
  struct TouchedKeys : rocksdb::WriteBatch::Handler {
    uint32_t profiles_id, attributes_id;
    std::vector<std::string_view> keys;  // into the batch, which outlives them
    rocksdb::Status Touch(uint32_t family, const rocksdb::Slice& key) {
      if (family == profiles_id || family == attributes_id) keys.push_back(key.ToStringView());
      return rocksdb::Status::OK();
    }
    rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key, const rocksdb::Slice&) override {
      return Touch(family, key);
    }
    rocksdb::Status DeleteCF(uint32_t family, const rocksdb::Slice& key) override { return Touch(family, key); }
    rocksdb::Status SingleDeleteCF(uint32_t family, const rocksdb::Slice& key) override { return Touch(family, key); }
    rocksdb::Status MergeCF(uint32_t family, const rocksdb::Slice& key, const rocksdb::Slice&) override {
      return Touch(family, key);
    }
    rocksdb::Status DeleteRangeCF(uint32_t family, const rocksdb::Slice&, const rocksdb::Slice&) override {
      // No writer deletes ranges of these families; one that does must
      // invalidate the range itself, not pass here unnoticed.
      if (family == profiles_id || family == attributes_id) {
        return rocksdb::Status::NotSupported("range delete in a read-cached family");
      }
      return rocksdb::Status::OK();
    }
  } touched;
  touched.profiles_id = profiles->GetID();
  touched.attributes_id = attributes->GetID();
  rocksdb::Status s = batch->Iterate(&touched);
  if (!s.ok()) {
    read_cache->InvalidateAll();  // applied but not invalidated would serve stale reads
    return Status::Internal(std::string(what) + ": read cache: " + s.ToString());
  }
  read_cache->Invalidate(touched.keys);
  return Status::Ok();
}

Status ProfileStore::Impl::ReadAttributes(const std::string& key, JsonFields* out) const {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), attributes, key, &value);
  if (s.IsNotFound()) return Status::Ok();
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "read attributes"));
  Status st = MergeJsonObject(value, out);
  return st.ok() ? st : Status::Corruption("profiles: attributes of " + key.substr(1) + ": " + st.message());
}

Result<std::string> ProfileStore::GetJson(std::string_view id, const FieldSelection& fields, UnixMicros now) const {
  const Impl& m = *impl_;
  const stream::FeatureSet& set = *m.features;
  for (const std::string& f : fields.features) {
    if (set.Find(f) < 0) return Status::InvalidArgument("fields: no feature named \"" + f + "\"");
  }
  std::string key;
  // Per thread and reused: decoding into them keeps their strings' and
  // vectors' capacity, so a read allocates little besides its answer.
  thread_local ProfileRecord rec;
  thread_local stream::UserFeatures state;
  SLUICE_ASSIGN_OR_RETURN(ReadCache::EntryPtr entry, m.Find(id, &key));
  SLUICE_RETURN_IF_ERROR(DecodeProfileRecord(entry->record, &rec));
  std::string out;
  out.reserve(2048);
  TimeWriter times(&out);
  out += "{\"id\":";
  AppendJsonString(&out, id);
  out.push_back(',');
  AppendProfileIdMember(&out, key);
  out += ",\"asOf\":";
  times.Append(now);
  out += ",\"lastEventAt\":";
  times.Append(rec.last_event_us);
  if (fields.sections & kFieldTraits) {
    out += ",\"traits\":";
    out += rec.traits.empty() ? "{}" : rec.traits;
  }
  if (fields.sections & kFieldAttributes) {
    out += ",\"attributes\":";
    out += entry->attributes.empty() ? std::string_view("{}") : std::string_view(entry->attributes);
  }
  if (fields.sections & kFieldFeatures) {
    Status st = state.Decode(rec.state);
    if (!st.ok()) return Status::Corruption("profiles: state of " + key.substr(1) + ": " + st.message());
    thread_local std::vector<stream::FeatureValue> values;
    state.EvaluateInto(set, now, &values);
    out += ",\"features\":{";
    bool first = true;
    for (const stream::FeatureValue& v : values) {
      if (!fields.features.empty() &&
          std::find(fields.features.begin(), fields.features.end(), v.name) == fields.features.end()) {
        continue;
      }
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, v.name);
      out += ":{\"value\":";
      stream::AppendValueJson(&out, v.value);
      out += ",\"windowStart\":";
      times.Append(v.window_start);
      out += ",\"windowEnd\":";
      times.Append(v.window_end);
      out.push_back('}');
    }
    out.push_back('}');
  }
  if (fields.sections & kFieldSegments) {
    out += ",\"segments\":[";
    for (size_t i = 0; i < rec.segments.size(); ++i) {
      if (i) out.push_back(',');
      out += "{\"name\":";
      AppendJsonString(&out, rec.segments[i].name);
      out += ",\"enteredAt\":";
      times.Append(rec.segments[i].entered_at_us);
      out.push_back('}');
    }
    out.push_back(']');
  }
  if (fields.sections & kFieldIdentities) {
    out += ",\"identities\":[";
    AppendIdentity(&out, key);
    for (const std::string& linked : rec.linked) {
      out.push_back(',');
      AppendIdentity(&out, linked);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

Status ProfileStore::PutAttributes(const std::vector<AttributeRow>& rows) {
  Impl& m = *impl_;
  rocksdb::WriteBatch batch;
  std::map<std::string, JsonFields> merged;  // a user twice in `rows`: both apply, in order
  for (size_t i = 0; i < rows.size(); ++i) {
    const AttributeRow& row = rows[i];
    if (row.user_id.empty()) return Status::InvalidArgument("attributes row " + std::to_string(i + 1) + ": empty userId");
    std::string key = UserKey(row.user_id);
    auto [it, fresh] = merged.try_emplace(key);
    if (fresh) SLUICE_RETURN_IF_ERROR(m.ReadAttributes(key, &it->second));
    Status st = MergeJsonObject(row.json, &it->second);
    if (!st.ok()) return Status::InvalidArgument("attributes row " + std::to_string(i + 1) + ": " + st.message());
  }
  std::string value;
  for (const auto& [key, fields] : merged) {
    value.clear();
    AppendJsonObject(&value, fields);
    batch.Put(m.attributes, key, value);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return m.Write(wo, &batch, "write attributes");
}

Result<size_t> ProfileStore::WarmCache() {
  Impl& m = *impl_;
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2 << 20;  // sequential: large reads, not one per block
  ReadCache& reads = *m.read_cache;
  // One ticket before the iterators' snapshots covers every key they yield
  // (read_cache.h): a profile the builder rewrites meanwhile is not kept.
  const uint64_t ticket = reads.Ticket();
  // Asking the caches' usage locks all their shards: once per 4096 keys,
  // not per key (per key it was most of the warm-up's time). The read
  // cache stops short of full so the fill does not evict what it filled.
  constexpr uint64_t kUsageEvery = 4096;
  bool blocks_full = false;
  bool reads_full = !reads.enabled();
  auto check_full = [&] {
    blocks_full = m.block_cache->GetUsage() >= m.block_cache->GetCapacity();
    reads_full = reads_full || reads.stats().charged_bytes >= reads.capacity_bytes() / 10 * 9;
  };
  std::unique_ptr<rocksdb::Iterator> profiles(m.db->NewIterator(ro, m.profiles));
  std::unique_ptr<rocksdb::Iterator> attributes(m.db->NewIterator(ro, m.attributes));
  attributes->SeekToFirst();
  uint64_t n = 0;
  // Both families are keyed by profile key: one merge-ordered pass pairs a
  // profile with its attributes.
  for (profiles->SeekToFirst(); profiles->Valid() && !(blocks_full && reads_full); profiles->Next()) {
    const rocksdb::Slice key = profiles->key();
    while (attributes->Valid() && attributes->key().compare(key) < 0) attributes->Next();
    // Only userId keys, the reads Find tries first; others are cached when read.
    if (!reads_full && !key.empty() && key[0] == kUserKind) {
      auto entry = std::make_shared<ReadCache::Entry>();
      entry->record.assign(profiles->value().data(), profiles->value().size());
      if (attributes->Valid() && attributes->key() == key) {
        entry->attributes.assign(attributes->value().data(), attributes->value().size());
      }
      reads.Insert(key.ToStringView(), ticket, std::move(entry));
    }
    if (++n % kUsageEvery == 0) check_full();
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(profiles->status(), "warm the caches"));
  for (; attributes->Valid() && !blocks_full; attributes->Next()) {  // attributes of users with no profile yet
    if (++n % kUsageEvery == 0) check_full();
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(attributes->status(), "warm the caches"));
  return m.block_cache->GetUsage();
}

ProfileStore::ReadCacheStats ProfileStore::read_cache_stats() const {
  const ReadCache::Stats s = impl_->read_cache->stats();
  return {s.entries, s.charged_bytes, s.hits, s.misses};
}

Result<log::LogOffset> ProfileStore::NextOffset() const {
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta, kMetaNextOffset, &v);
  if (s.IsNotFound()) return log::LogOffset{0};
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "read next offset"));
  if (v.size() != 8) return Status::Corruption("profiles: meta.next_offset is not 8 bytes");
  return log::LogOffset{DecodeFixed64(v.data())};
}

Result<std::vector<std::pair<uint64_t, std::string>>> ProfileStore::LateEvents(size_t limit) const {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->quarantine));
  Event e;
  for (it->SeekToFirst(); it->Valid() && out.size() < limit; it->Next()) {
    uint64_t offset = 0;
    if (!DecodeOrderedKey(it->key().ToStringView(), &offset)) return Status::Corruption("profiles: bad quarantine key");
    SLUICE_RETURN_IF_ERROR(DecodeEvent(std::string_view(it->value().data(), it->value().size()), &e));
    std::string json;
    AppendEventJson(e, &json);
    out.emplace_back(offset, std::move(json));
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "scan quarantine"));
  return out;
}

Result<uint64_t> ProfileStore::SegmentSize(std::string_view segment) const {
  std::string prefix(segment);
  prefix.push_back('\0');
  uint64_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->segment_index));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "scan segment index"));
  return n;
}

}  // namespace sluice::profile
