// ProfileBuilder: log records → identity graph (identity::IdentityGraph) →
// per-user feature state (stream::UserFeatures) held hot in memory → one
// RocksDB WriteBatch per checkpoint (profiles, identities, links,
// attributes, segment index, late events, segment webhook outbox, watermark,
// next offset) → the log consumer offset.
#include <boost/unordered/unordered_flat_map.hpp>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <map>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <memory>

#include "core/coding.h"
#include "core/event.h"
#include "profile/profile_store_impl.h"
#include "profile/segment_webhook.h"

namespace sluice::profile {

namespace {

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A profile in memory: its record (state kept decoded in `features`), and
// what the next checkpoint must write for it.
struct HotProfile {
  ProfileRecord record;  // record.state is only filled while encoding
  stream::UserFeatures features;
  bool stored = false;   // a version is in RocksDB
  bool dirty = false;    // in Impl::dirty: the next checkpoint writes it
  bool removed = false;  // merged into another; deleted at the checkpoint
  JsonFields new_traits;                  // identify traits since the last checkpoint
  std::vector<std::string> absorbed;      // profiles merged into this one since then
};

struct SegmentChange {
  std::string key;
  size_t segment;
  bool entered;
  UnixMicros at;
};

}  // namespace

struct ProfileBuilder::Impl {
  ProfileStore::Impl* store = nullptr;
  const stream::FeatureSet* set = nullptr;
  log::Log* log = nullptr;
  std::unique_ptr<log::LogReader> reader;
  log::LogOffset next;
  // Next record after the last checkpoint; atomic, as the gauges and
  // checkpointed() read it from other threads.
  std::atomic<uint64_t> checkpointed{0};
  std::atomic<int64_t> newest_received_us{0};  // of the events checkpointed
  int64_t pending_newest_received_us = 0;
  stream::Watermark watermark;
  identity::IdentityGraph graph;
  // Profile key of each id that is not canonical → its canonical profile key
  // (the identities family, in memory: most events resolve with one lookup).
  std::unordered_map<std::string, std::string> canonical_of;
  // Since the last checkpoint: identities entries (key == value: delete) and
  // links to write.
  std::unordered_map<std::string, std::string> identities_changed;
  std::set<std::pair<identity::Identifier, identity::Identifier>> links_changed;
  identity::FuzzyMatcher matcher;
  identity::ReviewQueue reviews;
  // Review items offered or decided since the last checkpoint, by ReviewKey.
  std::map<std::string, std::pair<ReviewState, identity::Match>> reviews_changed;
  // Open addressing (one probe of a metadata group, keys inline) rather than
  // std::unordered_map's chained nodes: the lookup is on every event. A
  // profile lives behind its own pointer so HotProfile* stays valid when the
  // table grows.
  boost::unordered_flat_map<std::string, std::unique_ptr<HotProfile>> hot;
  // The profiles the next checkpoint writes, each once, with their keys: a
  // checkpoint visits these instead of every hot profile.
  std::vector<std::pair<std::string, HotProfile*>> dirty;
  std::atomic<size_t> hot_count{0};  // hot.size() for /metrics
  std::vector<std::pair<uint64_t, std::string>> late_kept;  // offset, payload
  uint64_t events_since_checkpoint = 0;
  int64_t last_checkpoint_ms = 0;
  std::vector<stream::FeatureValue> values;
  std::string state_buffer;  // WriteCheckpoint's encoded feature state, reused
  // WriteCheckpoint's batch, cleared and reused: grown from empty each time,
  // its buffer was copied at every doubling and its fresh pages faulted in
  // (~4 % of a catch-up). Not kept beyond kKeptBatchBytes.
  rocksdb::WriteBatch checkpoint_batch;
  static constexpr size_t kKeptBatchBytes = 64 << 20;
  std::function<UnixMicros()> clock;
  // The rolling segment sweep (SweepSegments): the profiles key it goes on
  // from ("" = the first), the clock when it last ran, and how many profiles
  // it may still visit (segment_sweep_per_second × elapsed, at most one
  // second's worth). In memory only: after a restart a pass starts over.
  std::string sweep_from;
  UnixMicros sweep_clock = 0;
  double sweep_credit = 0;
  // The segment index held a segment no longer configured at Open: the sweep
  // then runs even with no segments configured, to drop those memberships.
  bool unconfigured_segments_indexed = false;
  std::vector<char> segment_in;  // EvaluateRules' answer, by store->segments index
  ProfileCrashPoint crash_point = ProfileCrashPoint::kNone;
  bool failed = false;  // a checkpoint failed or a crash was simulated: reopen to resume
  std::unique_ptr<SegmentWebhook> webhook;  // null: no segment_webhook configured

  monitor::Counter* events_total;
  monitor::Counter* late_total[4];  // by stream::ApplyOutcome
  monitor::Counter* merges_total;
  monitor::Counter* splits_total;
  monitor::Counter* refused_total;
  monitor::Counter* rejected_total;
  monitor::Counter* fuzzy_links_total;
  monitor::Counter* reviews_total;
  monitor::Counter* checkpoints_total;
  monitor::Counter* swept_total;
  monitor::Histogram* checkpoint_seconds;
  std::vector<monitor::Counter*> entered_total, left_total;
  std::vector<monitor::Gauge*> members;

  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  Status thread_error = Status::Ok();

  Status Recover();
  // The hot profile of `key`, read from RocksDB when cold. With create, a
  // new empty one when it does not exist; else null then.
  Result<HotProfile*> Load(const std::string& key, bool create);
  // A stored profile record (the profiles family's value of `key`) into `p`.
  Status DecodeStored(const std::string& key, std::string_view value, HotProfile* p) const;
  Status Merge(HotProfile* into, const std::string& into_key, const std::string& from);
  // The canonical profile key of profile key `key` (itself when not linked).
  const std::string& CanonicalKey(const std::string& key) const {
    auto it = canonical_of.find(key);
    return it == canonical_of.end() ? key : it->second;
  }
  // Asks the graph for the links `e` carries; reconciles profiles when it
  // changed. `end` is the offset of `e` (records before it are applied).
  Status LinkIdentities(const Event& e, uint64_t end);
  // After the graph changed the profiles of `changed`: re-keys ids, merges
  // profiles joined whole, recomputes from the log those that split.
  // Returns the log records re-read.
  Result<uint64_t> Reconcile(const std::vector<identity::Identifier>& changed, uint64_t end);
  // Rebuilds the profiles `keys` from the log records in [start, end).
  Result<uint64_t> Recompute(const std::set<std::string>& keys, uint64_t end);
  Result<identity::Identifier> FindIdentifier(std::string_view id) const;
  // Counts a link request's outcome and remembers what to write and reconcile.
  void Record(const Result<identity::LinkOutcome>& outcome, std::vector<identity::Identifier>* changed);
  // The fuzzy-matching record of profile `key` from its traits; false when
  // it has no email or phone to match on.
  bool MatchRecord(const std::string& key, std::string_view traits, identity::ProfileRecord* out) const;
  // Links auto-merges, offers the review band; reconciles what changed.
  Status ActOnMatches(const std::vector<identity::Match>& matches, int64_t time_ms, const std::string& message_id,
                      uint64_t end, uint64_t* linked, uint64_t* queued);
  // Re-indexes `key`'s record and acts on its matches (after an identify).
  Status MatchProfile(const std::string& key, const Event& e, uint64_t end);
  // A log record read ahead of its turn: decoded (or why not), and the
  // profile it will update, if hot, being loaded into the cache.
  struct AheadRecord {
    uint64_t offset = 0;
    Status decoded = Status::Ok();
    Event event;
    std::string key;      // its profile key before identity resolution; empty: nothing to apply
    std::string payload;  // for late_kept: only under the quarantine late policy
  };
  // With 100k users and more, every event's profile is out of cache, and
  // reaching it is a chain of dependent misses: hot map, profile, feature
  // state, spilled buckets. So Poll reads kReadAhead records at a time and
  // prefetches their profiles stage by stage across the batch
  // (PrefetchProfiles): the misses of a batch overlap instead of queueing.
  // Records are still applied one at a time in log order. A batch outlives a
  // Poll that failed on one of its records: the next Poll goes on after that
  // record, as it would without reading ahead. (Three batches in flight,
  // each stage a batch apart, measured the same: 585k vs 589k events/CPU-s.)
  static constexpr size_t kReadAhead = 16;
  std::array<AheadRecord, kReadAhead> ahead;
  size_t ahead_count = 0, ahead_applied = 0;  // ahead[ahead_applied, ahead_count) wait their turn
  void ReadAhead(const log::Record& r, AheadRecord* a);
  void PrefetchProfiles();
  // Applies a record ReadAhead decoded: in log order, one after the other.
  Status ApplyAhead(const AheadRecord& a);
  Status WriteCheckpoint();
  void MarkDirty(const std::string& key, HotProfile* p) {
    if (p->dirty) return;
    p->dirty = true;
    dirty.emplace_back(key, p);
  }
  // Fills segment_in: which configured segments `p` is in as of `now`.
  void EvaluateRules(const HotProfile& p, const JsonFields& attributes, UnixMicros now);
  Status EvaluateSegments(const std::string& key, HotProfile& p, const JsonFields& attributes, UnixMicros now,
                          rocksdb::WriteBatch* batch, std::vector<SegmentChange>* changes);
  // Re-evaluates the segments of the next stored profiles as of now (as many
  // as the sweep's credit allows) and marks dirty those whose membership
  // changed: the next checkpoint writes their changes as an event's.
  Status SweepSegments();
  bool SegmentConfigured(std::string_view name) const {
    return std::any_of(store->segments.begin(), store->segments.end(),
                       [&](const CompiledSegment& seg) { return seg.name == name; });
  }
  // `read_clock` false: only the counts, not the interval. Poll checks the
  // counts after every event but reads the clock (a clock_gettime, ~2 % of
  // the builder when read per event) once per read-ahead batch, so an
  // interval checkpoint comes at most kReadAhead events late.
  bool CheckpointDue(bool read_clock = true) const {
    if (events_since_checkpoint >= store->options.checkpoint_events ||
        dirty.size() >= store->options.checkpoint_profiles) {
      return true;
    }
    // dirty without events: profiles the sweep found in or out of a segment.
    return read_clock && (events_since_checkpoint > 0 || !dirty.empty()) &&
           SteadyMillis() - last_checkpoint_ms >= store->options.checkpoint_interval_ms;
  }
};

ProfileBuilder::ProfileBuilder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProfileBuilder::~ProfileBuilder() {
  if (impl_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> l(impl_->mu);
      impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->thread.join();
  }
}

Result<std::unique_ptr<ProfileBuilder>> ProfileBuilder::Open(ProfileStore* store, log::Log* log,
                                                             monitor::Registry* metrics) {
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.store = store->impl_.get();
  m.set = &*m.store->features;
  m.log = log;
  m.watermark = stream::Watermark(m.set->watermark().out_of_orderness_us);
  m.clock = store->options().clock ? store->options().clock : [] { return NowMicros(); };
  m.sweep_clock = m.clock();
  {
    // One Seek per distinct segment name in the index (keys are NAME\0KEY).
    std::unique_ptr<rocksdb::Iterator> it(m.store->db->NewIterator(rocksdb::ReadOptions(), m.store->segment_index));
    for (it->SeekToFirst(); it->Valid() && !m.unconfigured_segments_indexed;) {
      const std::string_view k = it->key().ToStringView();
      const std::string name(k.substr(0, k.find('\0')));
      m.unconfigured_segments_indexed = !m.SegmentConfigured(name);
      it->Seek(name + '\x01');
    }
    SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read the segment index"));
  }
  m.events_total = metrics->GetCounter("sluice_profile_events_total", "Events applied to profiles (late ones included).");
  constexpr const char* kLate = "sluice_profile_late_events_total";
  constexpr const char* kLateHelp = "Events behind the watermark by more than allowed_lateness, by what the late policy did.";
  m.late_total[0] = nullptr;
  m.late_total[static_cast<int>(stream::ApplyOutcome::kLateDropped)] =
      metrics->GetCounter(kLate, kLateHelp, {{"policy", "drop"}});
  m.late_total[static_cast<int>(stream::ApplyOutcome::kLateLifetimeOnly)] =
      metrics->GetCounter(kLate, kLateHelp, {{"policy", "lifetime_only"}});
  m.late_total[static_cast<int>(stream::ApplyOutcome::kLateQuarantine)] =
      metrics->GetCounter(kLate, kLateHelp, {{"policy", "quarantine"}});
  m.merges_total = metrics->GetCounter("sluice_profile_identity_merges_total",
                                       "Profiles merged into another (the identity graph joined two ids).");
  m.splits_total = metrics->GetCounter("sluice_profile_identity_splits_total",
                                       "Profiles split by the identity graph (unmerge, or a link refused late), "
                                       "recomputed from the log.");
  m.refused_total = metrics->GetCounter("sluice_identity_links_refused_total",
                                        "Link requests the identity graph refused (a per-type limit, or unmerged).");
  m.rejected_total = metrics->GetCounter("sluice_identity_rejected_total",
                                         "Link requests with a blocked or malformed identifier.");
  m.fuzzy_links_total = metrics->GetCounter("sluice_identity_fuzzy_links_total",
                                            "Fuzzy matches at or above the auto-merge threshold the graph accepted.");
  m.reviews_total = metrics->GetCounter("sluice_identity_reviews_queued_total",
                                        "Fuzzy matches in the review band queued for a decision.");
  m.graph = identity::IdentityGraph(store->options().identity.graph);
  identity::MatchConfig match = store->options().identity.match;
  match.normalize = store->options().identity.graph.normalize;
  m.matcher = identity::FuzzyMatcher(std::move(match));
  m.checkpoints_total = metrics->GetCounter("sluice_profile_checkpoints_total", "Profile checkpoints written.");
  m.swept_total = metrics->GetCounter("sluice_profile_segment_sweep_profiles_total",
                                      "Stored profiles the segment sweep re-evaluated as of now.");
  m.checkpoint_seconds = metrics->GetHistogram("sluice_profile_checkpoint_seconds",
                                               "Time to build and sync one profile checkpoint batch.",
                                               monitor::LatencySecondsBuckets());
  for (const CompiledSegment& s : m.store->segments) {
    monitor::Labels l{{"segment", s.name}};
    m.entered_total.push_back(metrics->GetCounter("sluice_segment_entered_total", "Profiles that entered a segment.", l));
    m.left_total.push_back(metrics->GetCounter("sluice_segment_left_total", "Profiles that left a segment.", l));
    m.members.push_back(metrics->GetGauge("sluice_segment_members", "Profiles in a segment now.", l));
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, store->SegmentSize(s.name));
    m.members.back()->Set(static_cast<double>(n));
  }
  if (const ProfileOptions& o = store->options(); o.segment_webhook.empty()) {
    SLUICE_RETURN_IF_ERROR(SegmentWebhook::Clear(m.store, metrics));
  } else {
    std::unique_ptr<monitor::WebhookTransport> transport;
    if (o.post_segment_webhook) {
      transport = o.segment_webhook_transport ? o.segment_webhook_transport() : monitor::MakeCurlTransport();
    }
    SLUICE_ASSIGN_OR_RETURN(m.webhook, SegmentWebhook::Open(m.store, o.segment_webhook, o.segment_webhook_outbox_max,
                                                            std::move(transport), metrics));
  }
  SLUICE_RETURN_IF_ERROR(m.Recover());
  Impl* raw = impl.get();
  metrics->AddGaugeCallback("sluice_profile_lag_records", "Durable log records not yet checkpointed into profiles.", {},
                            [raw, log] {
                              return static_cast<double>(log->EndOffset().value -
                                                         raw->checkpointed.load(std::memory_order_relaxed));
                            });
  metrics->AddGaugeCallback(
      "sluice_profile_lag_seconds",
      "now − received_at of the newest event checkpointed into profiles, while records wait (0 when caught up).", {},
      [raw, log] {
        if (raw->checkpointed.load(std::memory_order_relaxed) >= log->EndOffset().value) return 0.0;
        int64_t newest = raw->newest_received_us.load(std::memory_order_relaxed);
        return newest ? std::max<double>(0, (NowMicros() - newest) / 1e6) : 0.0;
      });
  metrics->AddGaugeCallback("sluice_profile_hot_profiles", "Profiles held in the builder's memory.", {},
                            [raw] { return static_cast<double>(raw->hot_count.load(std::memory_order_relaxed)); });
  return std::unique_ptr<ProfileBuilder>(new ProfileBuilder(std::move(impl)));
}

Status ProfileBuilder::Impl::Recover() {
  rocksdb::DB& db = *store->db;
  std::string wm;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), store->meta, kMetaWatermark, &wm);
  if (!s.IsNotFound()) {
    SLUICE_RETURN_IF_ERROR(FromRocks(s, "read watermark"));
    SLUICE_ASSIGN_OR_RETURN(watermark, stream::Watermark::Decode(wm));
  }
  std::vector<identity::LinkRecord> stored_links;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), store->links));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Result<identity::LinkRecord> link = identity::DecodeLinkRecord(std::string_view(it->value().data(), it->value().size()));
    if (!link.ok()) return Status::Corruption("profiles: links family: " + link.status().message());
    stored_links.push_back(std::move(link).value());
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read links"));
  SLUICE_ASSIGN_OR_RETURN(graph, identity::IdentityGraph::FromLinks(std::move(stored_links), store->options.identity.graph));
  it.reset(db.NewIterator(rocksdb::ReadOptions(), store->identities));
  for (it->SeekToFirst(); it->Valid(); it->Next()) canonical_of.emplace(it->key().ToString(), it->value().ToString());
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read identities"));
  // The matcher's index is rebuilt from every profile's traits.
  it.reset(db.NewIterator(rocksdb::ReadOptions(), store->profiles));
  ProfileRecord stored;
  identity::ProfileRecord record;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    SLUICE_RETURN_IF_ERROR(DecodeProfileRecord(std::string_view(it->value().data(), it->value().size()), &stored));
    if (MatchRecord(it->key().ToString(), stored.traits, &record)) SLUICE_RETURN_IF_ERROR(matcher.Upsert(record));
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read profiles"));
  it.reset(db.NewIterator(rocksdb::ReadOptions(), store->reviews));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ReviewState state;
    identity::Match match;
    SLUICE_RETURN_IF_ERROR(DecodeReviewRecord(std::string_view(it->value().data(), it->value().size()), &state, &match));
    reviews.Offer(match);
    if (state == ReviewState::kAccepted) SLUICE_RETURN_IF_ERROR(reviews.Accept(match.a, match.b, 0).status());
    if (state == ReviewState::kRejected) SLUICE_RETURN_IF_ERROR(reviews.Reject(match.a, match.b));
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read reviews"));
  std::string offset;
  s = db.Get(rocksdb::ReadOptions(), store->meta, kMetaNextOffset, &offset);
  uint64_t from = 0;
  if (!s.IsNotFound()) {
    SLUICE_RETURN_IF_ERROR(FromRocks(s, "read next offset"));
    if (offset.size() != 8) return Status::Corruption("profiles: meta.next_offset is not 8 bytes");
    from = DecodeFixed64(offset.data());
  }
  if (from > log->EndOffset().value) {
    return Status::FailedPrecondition("profiles: the store has applied the log up to offset " + std::to_string(from) +
                                      " but the log ends at " + std::to_string(log->EndOffset().value) +
                                      " (a data directory restored from different backups?)");
  }
  if (from < log->StartOffset().value) {
    // Only when profiles were enabled after the log had dropped segments
    // (no consumer kept them): start at what is left.
    from = log->StartOffset().value;
  }
  next = log::LogOffset{from};
  checkpointed = from;
  last_checkpoint_ms = SteadyMillis();
  SLUICE_RETURN_IF_ERROR(log->CommitConsumerOffset(kProfileConsumer, next));
  SLUICE_ASSIGN_OR_RETURN(reader, log->NewReader(next));
  return Status::Ok();
}

namespace {

// What an applied event changes in a profile record besides its features:
// an identify's traits merged over the stored ones (its keys win), and the
// newest event and receive times. True when traits were merged.
bool NoteEventOnRecord(const Event& e, ProfileRecord* record) {
  bool merged = false;
  if (e.type == EventType::kIdentify && !e.traits.empty()) {
    JsonFields traits;
    if (MergeJsonObject(record->traits, &traits).ok() && MergeJsonObject(e.traits, &traits).ok()) {
      record->traits.clear();
      AppendJsonObject(&record->traits, traits);
      merged = true;
    }
  }
  record->last_event_us = std::max(record->last_event_us, e.timestamp_us);
  record->last_received_us = std::max(record->last_received_us, e.received_at_us);
  return merged;
}

}  // namespace

Result<HotProfile*> ProfileBuilder::Impl::Load(const std::string& key, bool create) {
  auto it = hot.find(key);
  if (it != hot.end() && !it->second->removed) return it->second.get();
  if (it != hot.end()) {
    // Merged away earlier, now an id of its own again (links were dropped).
    if (!create) return static_cast<HotProfile*>(nullptr);
    HotProfile& p = *it->second;
    p = HotProfile{};
    p.stored = true;  // the delete is still pending: overwritten by the put
    p.dirty = true;   // and it is in `dirty` already
    return &p;
  }
  std::string value;
  rocksdb::Status s = store->db->Get(rocksdb::ReadOptions(), store->profiles, key, &value);
  if (s.IsNotFound()) {
    if (!create) return static_cast<HotProfile*>(nullptr);
    return (hot[key] = std::make_unique<HotProfile>()).get();
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(s, "read profile"));
  auto p = std::make_unique<HotProfile>();
  SLUICE_RETURN_IF_ERROR(DecodeStored(key, value, p.get()));
  return (hot[key] = std::move(p)).get();
}

Status ProfileBuilder::Impl::DecodeStored(const std::string& key, std::string_view value, HotProfile* p) const {
  SLUICE_RETURN_IF_ERROR(DecodeProfileRecord(value, &p->record));
  Status st = p->features.Decode(p->record.state);
  if (!st.ok()) return Status::Corruption("profiles: state of " + key.substr(1) + ": " + st.message());
  p->record.state.clear();
  p->record.state.shrink_to_fit();
  p->stored = true;
  return Status::Ok();
}

Status ProfileBuilder::Impl::Merge(HotProfile* into, const std::string& into_key, const std::string& from) {
  SLUICE_ASSIGN_OR_RETURN(HotProfile * q, Load(from, false));
  if (!q) return Status::Ok();
  into->features.Merge(*set, q->features);
  if (!q->record.traits.empty()) {
    // The surviving profile's traits win where both have a key.
    JsonFields traits;
    SLUICE_RETURN_IF_ERROR(MergeJsonObject(q->record.traits, &traits));
    SLUICE_RETURN_IF_ERROR(MergeJsonObject(into->record.traits, &traits));
    into->record.traits.clear();
    AppendJsonObject(&into->record.traits, traits);
  }
  for (auto& [k, v] : q->new_traits) into->new_traits.try_emplace(k, v);
  into->record.last_event_us = std::max(into->record.last_event_us, q->record.last_event_us);
  into->record.last_received_us = std::max(into->record.last_received_us, q->record.last_received_us);
  into->absorbed.push_back(from);
  (void)matcher.Remove(from);  // NotFound: it had nothing to match on
  for (std::string& a : q->absorbed) into->absorbed.push_back(std::move(a));
  q->absorbed.clear();
  q->features = stream::UserFeatures();
  q->new_traits.clear();
  q->removed = true;
  MarkDirty(from, q);
  MarkDirty(into_key, into);
  merges_total->Inc();
  return Status::Ok();
}

void ProfileBuilder::Impl::ReadAhead(const log::Record& r, AheadRecord* a) {
  a->offset = r.offset.value;
  a->decoded = Status::Ok();
  a->key.clear();
  if (r.type != kEventRecordType) return;
  EventHead head;
  Status st = PeekEvent(r.payload, &head);
  if (st.ok() && head.quarantined) return;  // held back by the gate: not a fact about the user
  if (st.ok()) st = DecodeEvent(r.payload, &a->event);
  if (!st.ok()) {
    a->decoded = Status::Corruption("log offset " + std::to_string(r.offset.value) + ": " + st.message());
    return;
  }
  const Event& e = a->event;
  if (e.user_id.empty() && e.anonymous_id.empty()) return;
  a->key = e.user_id.empty() ? AnonymousKey(e.anonymous_id) : UserKey(e.user_id);
  // Kept only where a late event may be quarantined: a copy per event otherwise.
  if (set->watermark().late_policy == stream::LatePolicy::kQuarantine) a->payload.assign(r.payload);
}

void ProfileBuilder::Impl::PrefetchProfiles() {
  // Each stage requests what the next one reads, for the whole batch.
  std::array<const HotProfile*, kReadAhead> found;
  size_t n = 0;
  for (size_t i = 0; i < ahead_count; ++i) {
    if (ahead[i].key.empty()) continue;
    auto it = hot.find(CanonicalKey(ahead[i].key));
    if (it == hot.end()) continue;
    found[n++] = it->second.get();
    __builtin_prefetch(found[n - 1]);
  }
  for (size_t i = 0; i < n; ++i) found[i]->features.PrefetchHead();
  for (size_t i = 0; i < n; ++i) found[i]->features.Prefetch();
}

Status ProfileBuilder::Impl::ApplyAhead(const AheadRecord& a) {
  SLUICE_RETURN_IF_ERROR(a.decoded);
  if (a.key.empty()) return Status::Ok();
  const Event& e = a.event;
  watermark.Observe(e.timestamp_us);
  SLUICE_RETURN_IF_ERROR(LinkIdentities(e, a.offset));
  const std::string key = CanonicalKey(a.key);
  SLUICE_ASSIGN_OR_RETURN(HotProfile * p, Load(key, true));
  stream::ApplyOutcome outcome = p->features.Apply(*set, e, watermark);
  events_total->Inc();
  if (outcome != stream::ApplyOutcome::kApplied) late_total[static_cast<int>(outcome)]->Inc();
  if (outcome == stream::ApplyOutcome::kLateQuarantine) late_kept.emplace_back(a.offset, a.payload);
  if (NoteEventOnRecord(e, &p->record)) (void)MergeJsonObject(e.traits, &p->new_traits);
  pending_newest_received_us = std::max(pending_newest_received_us, e.received_at_us);
  MarkDirty(key, p);
  ++events_since_checkpoint;
  if (e.type == EventType::kIdentify && !e.traits.empty()) return MatchProfile(key, e, a.offset + 1);
  return Status::Ok();
}

Status ProfileBuilder::Impl::LinkIdentities(const Event& e, uint64_t end) {
  using identity::IdType;
  const bool has_user = !e.user_id.empty();
  const bool aliases = e.type == EventType::kAlias && !e.previous_id.empty();
  const bool has_traits = e.type == EventType::kIdentify && !e.traits.empty() && !store->options.identity.traits.empty();
  if (!(has_user && !e.anonymous_id.empty()) && !aliases && !has_traits) return Status::Ok();
  const IdType primary_type = has_user ? IdType::kUserId : IdType::kAnonymousId;
  const std::string& primary = has_user ? e.user_id : e.anonymous_id;
  std::vector<identity::Identifier> changed;
  auto request = [&](IdType type, std::string_view raw, std::string rule) {
    identity::LinkEvidence evidence;
    evidence.rule = std::move(rule);
    evidence.time_ms = e.timestamp_us / 1000;
    if (!e.message_id.empty()) evidence.message_ids.push_back(e.message_id);
    Record(graph.Link(primary_type, primary, type, raw, std::move(evidence)), &changed);
  };
  if (has_user && !e.anonymous_id.empty()) {
    request(IdType::kAnonymousId, e.anonymous_id, e.type == EventType::kIdentify ? "identify" : "event");
  }
  if (aliases) {
    // previousId is whichever kind of id the user had: a userId when one by
    // that name is known, else an anonymousId.
    const std::string previous_user = UserKey(e.previous_id);
    bool known_user = graph.Canonical({IdType::kUserId, e.previous_id}).ok() || hot.contains(previous_user);
    if (!known_user) {
      std::string ignored;
      known_user = store->db->Get(rocksdb::ReadOptions(), store->profiles, previous_user, &ignored).ok();
    }
    request(known_user ? IdType::kUserId : IdType::kAnonymousId, e.previous_id, "alias");
  }
  if (has_traits) {
    JsonFields traits;
    if (MergeJsonObject(e.traits, &traits).ok()) {
      for (const IdentityTrait& t : store->options.identity.traits) {
        stream::Value v = JsonFieldValue(traits, t.trait);
        if (v.kind != stream::ValueKind::kString || v.string.empty()) continue;
        std::string rule = "trait:" + std::string(identity::IdTypeName(t.type));
        request(t.type, t.id_namespace.empty() ? v.string : t.id_namespace + ":" + v.string, std::move(rule));
      }
    }
  }
  if (changed.empty()) return Status::Ok();
  return Reconcile(changed, end).status();
}

Result<uint64_t> ProfileBuilder::Impl::Reconcile(const std::vector<identity::Identifier>& changed, uint64_t end) {
  std::set<identity::Identifier> affected;
  for (const identity::Identifier& c : changed) {
    Result<std::vector<identity::Identifier>> members = graph.Members(c);
    if (members.ok()) affected.insert(members->begin(), members->end());
  }
  std::map<std::string, std::set<std::string>> parts;         // old profile key → where its ids are now
  std::map<std::string, std::vector<std::string>> members_of;  // profile key now → its member keys
  for (const identity::Identifier& id : affected) {
    std::string key = ProfileKey(id);
    SLUICE_ASSIGN_OR_RETURN(identity::Identifier canonical, graph.Canonical(id));
    std::string now = ProfileKey(canonical);
    parts[CanonicalKey(key)].insert(now);
    if (now == key) {
      if (canonical_of.erase(key)) identities_changed[key] = key;
    } else if (std::string& slot = canonical_of[key]; slot != now) {
      slot = now;
      identities_changed[key] = now;
    }
    members_of[now].push_back(std::move(key));
  }
  std::set<std::string> split;
  for (const auto& [old, now] : parts) {
    if (now.size() > 1) {
      split.insert(now.begin(), now.end());
      splits_total->Inc();
      continue;
    }
    if (*now.begin() == old) continue;
    SLUICE_ASSIGN_OR_RETURN(HotProfile * into, Load(*now.begin(), true));
    SLUICE_RETURN_IF_ERROR(Merge(into, *now.begin(), old));
  }
  uint64_t read = 0;
  if (!split.empty()) {
    SLUICE_ASSIGN_OR_RETURN(read, Recompute(split, end));
  }
  for (auto& [key, members] : members_of) {
    SLUICE_ASSIGN_OR_RETURN(HotProfile * p, Load(key, true));
    std::erase(members, key);
    std::sort(members.begin(), members.end());
    p->record.linked = std::move(members);
    MarkDirty(key, p);
    identity::ProfileRecord record;
    if (MatchRecord(key, p->record.traits, &record)) SLUICE_RETURN_IF_ERROR(matcher.Upsert(record));
  }
  return read;
}

Result<uint64_t> ProfileBuilder::Impl::Recompute(const std::set<std::string>& keys, uint64_t end) {
  std::unordered_map<std::string, HotProfile*> fresh;
  for (const std::string& key : keys) {
    SLUICE_ASSIGN_OR_RETURN(HotProfile * p, Load(key, true));
    p->features = stream::UserFeatures();
    p->record.traits.clear();
    p->record.last_event_us = p->record.last_received_us = 0;
    MarkDirty(key, p);
    fresh.emplace(key, p);
  }
  // The watermark moves as it did when these records were first applied, so
  // late events are late again (and not quarantined twice).
  stream::Watermark replay_watermark(set->watermark().out_of_orderness_us);
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> replay, log->NewReader(log->StartOffset()));
  log::Record r;
  bool has = false;
  Event e;
  uint64_t read = 0;
  for (;;) {
    SLUICE_RETURN_IF_ERROR(replay->Next(&r, &has));
    if (!has || r.offset.value >= end) break;
    ++read;
    if (r.type != kEventRecordType) continue;
    EventHead head;
    Status st = PeekEvent(r.payload, &head);
    if (st.ok() && head.quarantined) continue;
    if (st.ok()) st = DecodeEvent(r.payload, &e);
    if (!st.ok()) return Status::Corruption("log offset " + std::to_string(r.offset.value) + ": " + st.message());
    if (e.user_id.empty() && e.anonymous_id.empty()) continue;
    replay_watermark.Observe(e.timestamp_us);
    auto it = fresh.find(CanonicalKey(e.user_id.empty() ? AnonymousKey(e.anonymous_id) : UserKey(e.user_id)));
    if (it == fresh.end()) continue;
    HotProfile& p = *it->second;
    (void)p.features.Apply(*set, e, replay_watermark);
    (void)NoteEventOnRecord(e, &p.record);
  }
  return read;
}

Result<identity::Identifier> ProfileBuilder::Impl::FindIdentifier(std::string_view id) const {
  if (Result<identity::Identifier> typed = identity::Identifier::FromKey(id); typed.ok()) {
    Result<identity::Identifier> normalised = graph.normalizer().Normalize(typed->type, typed->value);
    if (normalised.ok() && graph.Canonical(*normalised).ok()) return normalised;
  }
  for (identity::IdType type : {identity::IdType::kUserId, identity::IdType::kAnonymousId, identity::IdType::kEmail,
                                identity::IdType::kPhone, identity::IdType::kExternalId}) {
    Result<identity::Identifier> normalised = graph.normalizer().Normalize(type, id);
    if (normalised.ok() && graph.Canonical(*normalised).ok()) return normalised;
  }
  return Status::NotFound("\"" + std::string(id) +
                          "\" is not linked to any other id (no identify, alias or identifier trait named it)");
}

void ProfileBuilder::Impl::Record(const Result<identity::LinkOutcome>& outcome,
                                  std::vector<identity::Identifier>* changed) {
  if (!outcome.ok()) {
    rejected_total->Inc();  // kept in the graph's rejected() list
    return;
  }
  if (outcome->a == outcome->b) return;
  if (outcome->link_changed) links_changed.emplace(outcome->a, outcome->b);
  if (outcome->state != identity::LinkState::kAccepted) refused_total->Inc();
  changed->insert(changed->end(), outcome->changed.begin(), outcome->changed.end());
}

bool ProfileBuilder::Impl::MatchRecord(const std::string& key, std::string_view traits_text,
                                       identity::ProfileRecord* out) const {
  JsonFields traits;
  if (traits_text.empty() || !MergeJsonObject(traits_text, &traits).ok()) return false;
  auto text = [&](std::string_view path) {
    stream::Value v = JsonFieldValue(traits, path);
    return v.kind == stream::ValueKind::kString ? v.string : std::string();
  };
  *out = identity::ProfileRecord{};
  out->id = key;
  for (const IdentityTrait& t : store->options.identity.traits) {
    std::string* field = t.type == identity::IdType::kEmail ? &out->email
                         : t.type == identity::IdType::kPhone ? &out->phone
                                                              : nullptr;
    if (field && field->empty()) *field = text(t.trait);
  }
  if (out->email.empty() && out->phone.empty()) return false;
  out->name = text("name");
  if (out->name.empty()) {
    std::string first = text("first_name"), last = text("last_name");
    out->name = first.empty() || last.empty() ? first + last : first + " " + last;
  }
  out->city = text("city");
  if (out->city.empty()) out->city = text("address.city");
  return true;
}

Status ProfileBuilder::Impl::ActOnMatches(const std::vector<identity::Match>& matches, int64_t time_ms,
                                          const std::string& message_id, uint64_t end, uint64_t* linked,
                                          uint64_t* queued) {
  std::vector<identity::Identifier> changed;
  for (identity::Match m : matches) {
    m.evidence.time_ms = time_ms;
    if (!message_id.empty()) m.evidence.message_ids = {message_id};
    if (m.decision == identity::MatchDecision::kAutoMerge) {
      SLUICE_ASSIGN_OR_RETURN(identity::Identifier a, IdentifierOfKey(m.a));
      SLUICE_ASSIGN_OR_RETURN(identity::Identifier b, IdentifierOfKey(m.b));
      Result<identity::LinkOutcome> outcome = graph.Link(a.type, a.value, b.type, b.value, m.evidence);
      if (outcome.ok() && outcome->state == identity::LinkState::kAccepted) {
        fuzzy_links_total->Inc();
        ++*linked;
      }
      Record(outcome, &changed);
    } else if (m.decision == identity::MatchDecision::kReview && reviews.Offer(m)) {
      reviews_changed[ReviewKey(m.a, m.b)] = {ReviewState::kPending, m};
      reviews_total->Inc();
      ++*queued;
    }
  }
  if (changed.empty()) return Status::Ok();
  return Reconcile(changed, end).status();
}

Status ProfileBuilder::Impl::MatchProfile(const std::string& key, const Event& e, uint64_t end) {
  const std::string canonical = CanonicalKey(key);  // the identify may have joined profiles
  auto it = hot.find(canonical);
  identity::ProfileRecord record;
  if (it == hot.end() || it->second->removed || !MatchRecord(canonical, it->second->record.traits, &record)) {
    return Status::Ok();
  }
  SLUICE_RETURN_IF_ERROR(matcher.Upsert(record));
  SLUICE_ASSIGN_OR_RETURN(std::vector<identity::Match> matches, matcher.MatchOne(canonical));
  uint64_t linked = 0, queued = 0;
  return ActOnMatches(matches, e.timestamp_us / 1000, e.message_id, end, &linked, &queued);
}

std::vector<identity::Match> ProfileBuilder::PendingReviews() const { return impl_->reviews.List(); }

Status ProfileBuilder::DecideReview(std::string_view a, std::string_view b, bool accept) {
  Impl& m = *impl_;
  if (m.failed) return Status::FailedPrecondition("profile builder stopped after a failed checkpoint; restart to resume");
  // A profile never linked is not in the graph: TYPE:VALUE is taken as it is.
  auto find = [&m](std::string_view id) -> Result<identity::Identifier> {
    Result<identity::Identifier> typed = identity::Identifier::FromKey(id);
    return typed.ok() ? typed : m.FindIdentifier(id);
  };
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier ia, find(a));
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier ib, find(b));
  // Any id of either profile names it.
  const std::string ka = m.CanonicalKey(ProfileKey(ia)), kb = m.CanonicalKey(ProfileKey(ib));
  identity::Match match;
  for (const identity::Match& pending : m.reviews.List()) {
    if ((pending.a == ka && pending.b == kb) || (pending.a == kb && pending.b == ka)) match = pending;
  }
  if (match.a.empty()) return Status::NotFound("no pending review between " + ia.Key() + " and " + ib.Key());
  if (!accept) {
    SLUICE_RETURN_IF_ERROR(m.reviews.Reject(ka, kb));
    m.reviews_changed[ReviewKey(ka, kb)] = {ReviewState::kRejected, match};
  } else {
    SLUICE_ASSIGN_OR_RETURN(identity::LinkEvidence evidence, m.reviews.Accept(ka, kb, m.clock() / 1000));
    m.reviews_changed[ReviewKey(ka, kb)] = {ReviewState::kAccepted, match};
    std::vector<identity::Identifier> changed;
    m.Record(m.graph.Link(ia.type, ia.value, ib.type, ib.value, std::move(evidence)), &changed);
    if (!changed.empty()) SLUICE_RETURN_IF_ERROR(m.Reconcile(changed, m.next.value).status());
  }
  Status st = m.WriteCheckpoint();
  if (!st.ok()) m.failed = true;
  return st;
}

Result<ProfileBuilder::ResolveSummary> ProfileBuilder::Resolve(
    unsigned threads, const std::function<void(uint64_t, uint64_t)>& progress) {
  Impl& m = *impl_;
  if (m.failed) return Status::FailedPrecondition("profile builder stopped after a failed checkpoint; restart to resume");
  ResolveSummary summary;
  std::vector<identity::Match> matches = m.matcher.ResolveAll(&summary.stats, threads, progress);
  SLUICE_RETURN_IF_ERROR(
      m.ActOnMatches(matches, m.clock() / 1000, "", m.next.value, &summary.links_accepted, &summary.queued));
  Status st = m.WriteCheckpoint();
  if (!st.ok()) {
    m.failed = true;
    return st;
  }
  return summary;
}

Result<identity::Explanation> ProfileBuilder::Explain(std::string_view id) const {
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier found, impl_->FindIdentifier(id));
  return impl_->graph.Explain(found);
}

Result<ProfileBuilder::UnmergeSummary> ProfileBuilder::Unmerge(std::string_view id, std::string_view other) {
  Impl& m = *impl_;
  if (m.failed) return Status::FailedPrecondition("profile builder stopped after a failed checkpoint; restart to resume");
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier a, m.FindIdentifier(id));
  SLUICE_ASSIGN_OR_RETURN(identity::Explanation before, m.graph.Explain(a));
  identity::UnmergeResult result;
  if (other.empty()) {
    SLUICE_ASSIGN_OR_RETURN(result, m.graph.Unmerge(a));
    for (const auto* list : {&before.links, &before.refused}) {
      for (const identity::LinkRecord& l : *list) {
        if (l.a == a || l.b == a) m.links_changed.emplace(l.a, l.b);
      }
    }
  } else {
    SLUICE_ASSIGN_OR_RETURN(identity::Identifier b, m.FindIdentifier(other));
    SLUICE_ASSIGN_OR_RETURN(result, m.graph.Unlink(a, b));
    m.links_changed.emplace(std::min(a, b), std::max(a, b));
  }
  std::vector<identity::Identifier> changed = result.profiles;
  changed.push_back(before.canonical);
  UnmergeSummary summary;
  SLUICE_ASSIGN_OR_RETURN(summary.records_read, m.Reconcile(changed, m.next.value));
  summary.links_removed = result.links_removed;
  for (const identity::Identifier& p : result.profiles) summary.profiles.push_back(ProfileKey(p));
  std::sort(summary.profiles.begin(), summary.profiles.end());
  Status st = m.WriteCheckpoint();
  if (!st.ok()) {
    m.failed = true;
    return st;
  }
  return summary;
}

Result<uint64_t> ProfileBuilder::Poll(uint64_t max_records) {
  Impl& m = *impl_;
  if (m.failed) return Status::FailedPrecondition("profile builder stopped after a failed checkpoint; restart to resume");
  uint64_t applied = 0, taken = 0;
  log::Record r;
  bool has = true;
  Status read = Status::Ok();
  for (;;) {
    if (m.ahead_applied == m.ahead_count) {
      m.ahead_count = m.ahead_applied = 0;
      while (m.ahead_count < Impl::kReadAhead && taken < max_records && has) {
        read = m.reader->Next(&r, &has);
        if (!read.ok()) break;  // what was read before it is still applied
        if (has) {
          m.ReadAhead(r, &m.ahead[m.ahead_count++]);
          ++taken;
        }
      }
      if (m.ahead_count == 0) break;
      m.PrefetchProfiles();
    }
    while (m.ahead_applied < m.ahead_count) {
      const Impl::AheadRecord& a = m.ahead[m.ahead_applied++];
      ++applied;
      SLUICE_RETURN_IF_ERROR(m.ApplyAhead(a));
      m.next = log::LogOffset{a.offset + 1};
      if (m.CheckpointDue(/*read_clock=*/m.ahead_applied == m.ahead_count)) SLUICE_RETURN_IF_ERROR(Checkpoint());
    }
    if (!read.ok()) break;
  }
  SLUICE_RETURN_IF_ERROR(read);
  SLUICE_RETURN_IF_ERROR(m.SweepSegments());
  if (m.CheckpointDue()) SLUICE_RETURN_IF_ERROR(Checkpoint());
  m.hot_count = m.hot.size();
  return applied;
}

Status ProfileBuilder::Impl::SweepSegments() {
  const uint64_t rate = store->options.segment_sweep_per_second;
  if (rate == 0 || (store->segments.empty() && !unconfigured_segments_indexed)) return Status::Ok();
  const UnixMicros now = clock();
  const double elapsed_s = static_cast<double>(std::max<int64_t>(0, now - sweep_clock)) / kMicrosPerSecond;
  sweep_clock = now;
  sweep_credit = std::min(static_cast<double>(rate), sweep_credit + elapsed_s * static_cast<double>(rate));
  if (sweep_credit < 1) return Status::Ok();
  // A fresh iterator each time: one held between polls would pin memtables
  // and files RocksDB could otherwise release.
  std::unique_ptr<rocksdb::Iterator> it(store->db->NewIterator(rocksdb::ReadOptions(), store->profiles));
  JsonFields attributes;
  auto changed = [&](const std::string& key, const HotProfile& p) -> Result<bool> {
    attributes.clear();
    if (store->segments_read_attributes) SLUICE_RETURN_IF_ERROR(store->ReadAttributes(key, &attributes));
    EvaluateRules(p, attributes, now);
    for (size_t i = 0; i < store->segments.size(); ++i) {
      const bool was = std::any_of(p.record.segments.begin(), p.record.segments.end(),
                                   [&](const SegmentMembership& s) { return s.name == store->segments[i].name; });
      if (was != static_cast<bool>(segment_in[i])) return true;
    }
    // A membership of a segment no longer configured: the checkpoint drops
    // it and its index entry (EvaluateSegments).
    return std::any_of(p.record.segments.begin(), p.record.segments.end(),
                       [&](const SegmentMembership& s) { return !SegmentConfigured(s.name); });
  };
  uint64_t visited = 0;
  for (it->Seek(sweep_from); it->Valid() && sweep_credit >= 1; it->Next()) {
    sweep_credit -= 1;
    ++visited;
    std::string key = it->key().ToString();
    sweep_from = key + '\0';  // the first key after this one
    if (auto h = hot.find(key); h != hot.end()) {
      // Hot: its memory is newer than what is stored. A dirty one is
      // evaluated by the coming checkpoint anyway; a removed one is deleted there.
      HotProfile& p = *h->second;
      if (p.dirty || p.removed) continue;
      SLUICE_ASSIGN_OR_RETURN(bool moved, changed(key, p));
      if (moved) MarkDirty(key, &p);
      continue;
    }
    auto p = std::make_unique<HotProfile>();
    SLUICE_RETURN_IF_ERROR(DecodeStored(key, std::string_view(it->value().data(), it->value().size()), p.get()));
    SLUICE_ASSIGN_OR_RETURN(bool moved, changed(key, *p));
    if (moved) MarkDirty(key, (hot[key] = std::move(p)).get());
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "sweep profiles"));
  if (!it->Valid()) sweep_from.clear();  // the end: the next pass starts at the first profile
  swept_total->Inc(visited);
  return Status::Ok();
}

void ProfileBuilder::Impl::EvaluateRules(const HotProfile& p, const JsonFields& attributes, UnixMicros now) {
  p.features.EvaluateInto(*set, now, store->segment_features, &values);
  JsonFields traits;
  if (store->segments_read_traits) (void)MergeJsonObject(p.record.traits, &traits);
  ProfileValues resolver(*set, values, attributes, traits);
  segment_in.resize(store->segments.size());
  for (size_t i = 0; i < store->segments.size(); ++i) segment_in[i] = store->segments[i].rule.Evaluate(resolver);
}

Status ProfileBuilder::Impl::EvaluateSegments(const std::string& key, HotProfile& p, const JsonFields& attributes,
                                              UnixMicros now, rocksdb::WriteBatch* batch,
                                              std::vector<SegmentChange>* changes) {
  EvaluateRules(p, attributes, now);
  std::vector<SegmentMembership> kept;
  for (size_t i = 0; i < store->segments.size(); ++i) {
    const CompiledSegment& seg = store->segments[i];
    const bool in = segment_in[i];
    auto was = std::find_if(p.record.segments.begin(), p.record.segments.end(),
                            [&](const SegmentMembership& s) { return s.name == seg.name; });
    if (in && was == p.record.segments.end()) {
      kept.push_back({seg.name, now});
      batch->Put(store->segment_index, SegmentIndexKey(seg.name, key), "");
      changes->push_back({key, i, true, now});
    } else if (in) {
      kept.push_back(*was);
    } else if (was != p.record.segments.end()) {
      batch->Delete(store->segment_index, SegmentIndexKey(seg.name, key));
      changes->push_back({key, i, false, now});
    }
  }
  // Memberships of segments no longer configured are dropped with their
  // index entries, silently: no counter or webhook speaks for a segment
  // that is gone. The sweep finds such profiles, so within one pass the
  // index holds only configured segments.
  for (const SegmentMembership& s : p.record.segments) {
    if (!SegmentConfigured(s.name)) batch->Delete(store->segment_index, SegmentIndexKey(s.name, key));
  }
  p.record.segments = std::move(kept);
  return Status::Ok();
}

Status ProfileBuilder::Impl::WriteCheckpoint() {
  const auto started = std::chrono::steady_clock::now();
  const UnixMicros now = clock();
  rocksdb::WriteBatch& batch = checkpoint_batch;
  batch.Clear();
  std::vector<SegmentChange> changes;
  std::string value;
  // In key order: RocksDB's memtable (a skip list) inserts a sorted run
  // faster than the hash map's order (it reuses the previous insert's path).
  std::sort(dirty.begin(), dirty.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < dirty.size(); ++i) {
    // Profiles are scattered over memory and each is read once here: ask for
    // the ones a few places ahead (their record, then their feature state)
    // so the misses overlap with the work on this one.
    if (i + 4 < dirty.size()) __builtin_prefetch(&dirty[i + 4].second->features);
    if (i + 2 < dirty.size()) dirty[i + 2].second->features.Prefetch();
    const std::string& key = dirty[i].first;
    HotProfile& p = *dirty[i].second;
    if (p.removed) {
      if (p.stored) batch.Delete(store->profiles, key);
      for (const SegmentMembership& s : p.record.segments) {
        batch.Delete(store->segment_index, SegmentIndexKey(s.name, key));
        for (size_t i = 0; i < store->segments.size(); ++i) {
          if (store->segments[i].name == s.name) changes.push_back({key, i, false, now});
        }
      }
      p.record.segments.clear();
      continue;
    }
    JsonFields attributes;
    const bool attributes_change = !p.new_traits.empty() || !p.absorbed.empty();
    if (attributes_change || store->segments_read_attributes) SLUICE_RETURN_IF_ERROR(store->ReadAttributes(key, &attributes));
    if (attributes_change) {
      // Attributes of merged profiles fill keys this one lacks; identify
      // traits replace what they name.
      for (const std::string& from : p.absorbed) {
        JsonFields theirs;
        SLUICE_RETURN_IF_ERROR(store->ReadAttributes(from, &theirs));
        for (auto& [k, v] : theirs) attributes.try_emplace(k, v);
        batch.Delete(store->attributes, from);
      }
      for (auto& [k, v] : p.new_traits) attributes[k] = v;
      value.clear();
      AppendJsonObject(&value, attributes);
      batch.Put(store->attributes, key, value);
    }
    if (!store->segments.empty() || !p.record.segments.empty()) {
      SLUICE_RETURN_IF_ERROR(EvaluateSegments(key, p, attributes, now, &batch, &changes));
    }
    // Encoded into one buffer lent to the record, so a hot profile holds no
    // copy of its encoded state between checkpoints.
    state_buffer.clear();
    p.record.state.swap(state_buffer);
    p.features.Encode(&p.record.state);
    value.clear();
    EncodeProfileRecord(p.record, &value);
    p.record.state.swap(state_buffer);
    batch.Put(store->profiles, key, value);
  }
  for (auto& [id, canonical] : identities_changed) {
    if (id == canonical) batch.Delete(store->identities, id);
    else batch.Put(store->identities, id, canonical);
  }
  for (const auto& [a, b] : links_changed) {
    SLUICE_ASSIGN_OR_RETURN(identity::LinkRecord link, graph.GetLink(a, b));
    batch.Put(store->links, LinkKey(a, b), identity::EncodeLinkRecord(link));
  }
  for (const auto& [key, review] : reviews_changed) {
    SLUICE_ASSIGN_OR_RETURN(std::string record, EncodeReviewRecord(review.first, review.second));
    batch.Put(store->reviews, key, record);
  }
  for (auto& [offset, payload] : late_kept) batch.Put(store->quarantine, OrderedKey(offset), payload);
  if (webhook && !changes.empty()) {
    // In this batch, so a change is posted (at least once) exactly when the
    // checkpoint that made it is durable.
    std::vector<std::string> bodies;
    bodies.reserve(changes.size());
    for (const SegmentChange& c : changes) {
      std::string& body = bodies.emplace_back("{\"segment\":");
      AppendJsonString(&body, store->segments[c.segment].name);
      body += c.entered ? ",\"change\":\"entered\"," : ",\"change\":\"left\",";
      AppendProfileIdMember(&body, c.key);
      body += ",\"at\":\"" + FormatIso8601(c.at) + "\"";  // Stage appends the id and the closing brace
    }
    SLUICE_RETURN_IF_ERROR(webhook->Stage(&bodies, &batch));
  }
  std::string offset;
  PutFixed64(&offset, next.value);
  batch.Put(store->meta, kMetaNextOffset, offset);
  std::string wm;
  watermark.Encode(&wm);
  batch.Put(store->meta, kMetaWatermark, wm);
  if (crash_point == ProfileCrashPoint::kBeforeBatch) return Status::Internal("simulated crash before the checkpoint batch");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  SLUICE_RETURN_IF_ERROR(store->Write(wo, &batch, "write checkpoint"));
  if (batch.GetDataSize() > kKeptBatchBytes) batch = rocksdb::WriteBatch();
  if (crash_point == ProfileCrashPoint::kAfterBatch) return Status::Internal("simulated crash after the checkpoint batch");

  for (auto& [key, profile] : dirty) {
    HotProfile& p = *profile;
    if (p.removed) {
      hot.erase(key);
      continue;
    }
    p.dirty = false;
    p.stored = true;
    p.new_traits.clear();
    p.absorbed.clear();
  }
  dirty.clear();
  late_kept.clear();
  identities_changed.clear();
  links_changed.clear();
  reviews_changed.clear();
  for (const SegmentChange& c : changes) {
    (c.entered ? entered_total : left_total)[c.segment]->Inc();
    members[c.segment]->Add(c.entered ? 1 : -1);
  }
  if (webhook && !changes.empty()) webhook->Committed();
  checkpointed = next.value;
  newest_received_us = std::max(newest_received_us.load(), pending_newest_received_us);
  events_since_checkpoint = 0;
  last_checkpoint_ms = SteadyMillis();
  if (hot.size() > store->options.max_hot_profiles) hot.clear();  // all clean now: they are in RocksDB
  hot_count = hot.size();
  checkpoints_total->Inc();
  checkpoint_seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // After the batch, so the log never drops what the store has not applied.
  return log->CommitConsumerOffset(kProfileConsumer, next);
}

Status ProfileBuilder::Checkpoint() {
  Impl& m = *impl_;
  if (m.failed) return Status::FailedPrecondition("profile builder stopped after a failed checkpoint; restart to resume");
  if (m.next.value == m.checkpointed.load() && m.events_since_checkpoint == 0 && m.dirty.empty()) return Status::Ok();
  Status st = m.WriteCheckpoint();
  // What is in memory is ahead of the store now; only a restart (resuming at
  // the last good checkpoint) can line them up again.
  if (!st.ok()) m.failed = true;
  return st;
}

Status ProfileBuilder::CatchUp() {
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, Poll());
    if (n == 0) break;
  }
  return Checkpoint();
}

void ProfileBuilder::Start() {
  impl_->thread = std::thread([this] { Loop(); });
}

void ProfileBuilder::Loop() {
  Impl& m = *impl_;
  std::string last_error;
  for (;;) {
    Result<uint64_t> polled = Poll();
    uint64_t n = polled.ok() ? *polled : 0;
    if (!polled.ok()) {
      if (polled.status().ToString() != last_error) {
        std::fprintf(stderr, "sluice: profiles: %s\n", polled.status().ToString().c_str());
      }
      last_error = polled.status().ToString();
      std::lock_guard<std::mutex> l(m.mu);
      m.thread_error = polled.status();
    }
    std::unique_lock<std::mutex> l(m.mu);
    if (n == 0) m.cv.wait_for(l, std::chrono::milliseconds(m.store->options.poll_interval_ms), [&] { return m.stop; });
    if (m.stop) break;
  }
}

Status ProfileBuilder::Stop() {
  Impl& m = *impl_;
  if (m.thread.joinable()) {
    {
      std::lock_guard<std::mutex> l(m.mu);
      m.stop = true;
    }
    m.cv.notify_all();
    m.thread.join();
  }
  if (m.failed) return m.thread_error.ok() ? Status::FailedPrecondition("profile builder failed") : m.thread_error;
  Status st = CatchUp();
  return st.ok() ? m.thread_error : st;
}

log::LogOffset ProfileBuilder::next_offset() const { return impl_->next; }
log::LogOffset ProfileBuilder::checkpointed() const {
  return log::LogOffset{impl_->checkpointed.load(std::memory_order_acquire)};
}
void ProfileBuilder::set_crash_point(ProfileCrashPoint p) { impl_->crash_point = p; }

}  // namespace sluice::profile
