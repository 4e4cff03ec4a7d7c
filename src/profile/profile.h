// profile: live user profiles — the per-user feature state the stream part
// computes, kept durably in RocksDB, joined with static attributes and
// identify traits, grouped into segments, and served as JSON.
//
// What it owns: DATA/state/profiles (one RocksDB; layout in profile_format.h:
// column families profiles, identities, links, reviews, attributes, segments, quarantine,
// outbox and the default one for the consumer's offset and watermark), the
// log consumer "profiles", and the segment webhook posts.
//
// Invariants:
// - Exactly once. The builder keeps hot profiles in memory and checkpoints
//   every checkpoint_interval_ms, checkpoint_profiles dirty profiles or
//   checkpoint_events events, whichever comes first: the dirty profiles,
//   identity links, attribute updates, segment index changes, late events
//   kept for quarantine, segment webhook posts (outbox), the watermark and
//   the next log offset go in ONE RocksDB WriteBatch (synced). On open it
//   resumes at that offset, so after a kill -9 every event is applied
//   exactly once. The log's consumer offset "profiles" is committed only
//   after the batch, so log retention never drops what profiles still need.
// - Reads never wait on writes: GetJson reads RocksDB (a Get takes no lock a
//   writer holds) or the read cache (read_cache.h: the stored bytes of
//   profiles once read, by profile key; a shard lock held for a hash lookup, never
//   across a write) and evaluates the features as of `now`, so sliding
//   windows move with the clock. A read sees the last checkpoint: every
//   write of profiles or attributes goes through one function that
//   invalidates what it touched once RocksDB applied it. Nothing rendered is
//   cached; the block cache (warmed at server start) holds RocksDB's blocks.
// - Segment membership is re-evaluated for every profile that changed, at
//   its checkpoint; entering and leaving are indexed (segments family) and,
//   with a segment webhook, written to the outbox family, both by the
//   checkpoint's own batch, and counted once it is durable. The webhook's
//   thread posts the outbox in order and deletes an entry only after a 2xx:
//   at least once, across restarts and crashes (segment_webhook.h).
// - Membership follows the clock: sliding windows, recency and loaded
//   attributes change without events, so a rolling sweep on the builder's
//   thread (no thread or lock of its own) re-evaluates the stored profiles
//   as of now, at most segment_sweep_per_second of them per second of
//   `clock`, in key order, wrapping at the end: every profile is revisited
//   within profiles / rate seconds (plus the checkpoint interval). A hot
//   profile is evaluated from memory (a dirty one is left to its
//   checkpoint). Only profiles whose membership changed are marked dirty;
//   the next checkpoint writes them like any other — index, counters,
//   gauges and webhook after the batch is durable — so exactly-once holds.
//   The sweep's cursor is not durable: after a restart a pass starts at the
//   first profile, which only re-checks profiles earlier.
// - Identity is the identity part's graph (identity::IdentityGraph), loaded
//   from the links family and written in the same checkpoint batch. An event
//   carrying a userId and an anonymousId asks to link them (rule "identify"
//   for an identify, "event" otherwise), an alias links previousId (as a
//   userId when that userId is known, else as an anonymousId) to userId, and
//   an identify's configured traits (IdentityOptions::traits) link the
//   email, phone or external id they name. A profile's key is its graph
//   canonical id; when the graph joins profiles their features are merged
//   (stream::UserFeatures::Merge); when it splits one (a late link that
//   wins over an accepted one under a limit, or an unmerge) every profile
//   holding a former member is recomputed from the log records still
//   retained. A profile answers for any id linked to it.
// - Fuzzy matching runs on each identify that carries traits: the profile's
//   record (IdentityOptions::match) is matched against the index of every
//   profile's; a score at or above the auto-merge threshold links the two
//   (rule "fuzzy", with fields, distances and score as evidence), one in the
//   review band is queued (reviews family) for ReviewDecide. Resolve runs
//   the same over all profiles at once.
//
// Threading: ProfileStore is safe for concurrent use (reads from HTTP event
// loops, writes from the one builder). ProfileBuilder is driven by one
// thread — its own (Start/Stop) or the caller's (CatchUp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "identity/identity.h"
#include "log/log.h"
#include "monitor/monitor.h"
#include "stream/stream.h"

namespace sluice::monitor {
class WebhookTransport;  // monitor/alert_delivery.h
}  // namespace sluice::monitor

namespace sluice::profile {

class SegmentWebhook;

inline constexpr const char* kProfileConsumer = "profiles";  // the log consumer name

struct SegmentDefinition {
  std::string name;  // [A-Za-z0-9_.-]{1,128}
  std::string rule;  // a stream::Expression over features, attributes and traits.NAME
};

// An identify trait that identifies a person (profiles.identity.*_traits).
struct IdentityTrait {
  std::string trait;  // top-level trait name
  identity::IdType type = identity::IdType::kEmail;  // kEmail, kPhone or kExternalId
  std::string id_namespace;  // kExternalId: the value becomes "NAMESPACE:value"
};

struct IdentityOptions {
  // Limits (default: 1 userId, 5 emails, 5 phones, 100 anonymousIds per
  // profile, external ids unlimited), rule priorities, blocked values,
  // phone default country: identity::GraphConfig's defaults.
  identity::GraphConfig graph;
  std::vector<IdentityTrait> traits = {{"email", identity::IdType::kEmail, ""},
                                       {"phone", identity::IdType::kPhone, ""}};
  // Fuzzy matching of profiles by their traits (the first email and phone
  // trait above, `name` or `first_name` + `last_name`, `city` or
  // `address.city`): thresholds and blocking. Its normalisation is `graph`'s.
  identity::MatchConfig match;
};

struct ProfileOptions {
  std::string db_path;  // DATA/state/profiles
  // Feature definitions YAML (stream.h); empty: stream::FeatureSet::Defaults().
  std::string features_yaml;
  std::vector<SegmentDefinition> segments;
  std::string segment_webhook;  // "" → none; else http(s) URL, one POST per change
  // Segment changes waiting in the outbox for a 2xx (segment_webhook.h): a
  // checkpoint that would leave more deletes the oldest (counted dropped).
  uint64_t segment_webhook_outbox_max = 1'000'000;
  // Whether this process posts the outbox (the server) or only fills it (a
  // command working on the store while no server runs; the server posts
  // what it left at its next start).
  bool post_segment_webhook = true;
  // How posts leave the process; default libcurl (tests fake it).
  std::function<std::unique_ptr<monitor::WebhookTransport>()> segment_webhook_transport;
  // A checkpoint is written when the first of these is reached. The
  // interval bounds how stale a read is; the dirty profiles bound the
  // memory held for, and the size of, one checkpoint (each is encoded and
  // written once however many events changed it); the events bound the
  // replay after a crash while catching up a backlog.
  int64_t checkpoint_interval_ms = 1000;
  uint64_t checkpoint_profiles = 100'000;
  uint64_t checkpoint_events = 1'000'000;
  // After a checkpoint, hot (in-memory) profiles beyond this are dropped;
  // they are read back from RocksDB on their next event.
  size_t max_hot_profiles = 200'000;
  // Stored profiles whose segments are re-evaluated as of now per second of
  // `clock`, rolling over the profiles family, so memberships follow sliding
  // windows, recency and loaded attributes for profiles that get no events.
  // 0: off (membership changes only with a profile's events).
  uint64_t segment_sweep_per_second = 10'000;
  int64_t poll_interval_ms = 50;  // idle wait between log reads
  // RocksDB block cache (uncompressed blocks of every family). Reads from
  // the cache skip a file read and a decompression each.
  size_t block_cache_bytes = size_t{1} << 30;
  // GetJson's read cache (read_cache.h): the stored record and attributes
  // of profiles once read (by any id), so a repeated read costs no RocksDB
  // Get of the profile. Every write invalidates what it touched. 0: off.
  size_t read_cache_bytes = size_t{1} << 30;
  // The clock segments are evaluated with; default NowMicros.
  std::function<UnixMicros()> clock;
  IdentityOptions identity;
};

// "user_id:ann" for the profile key of userId "ann" (Identifier::Key).
std::string ProfileKeyName(std::string_view key);

// Parses and checks what ProfileOptions names (features YAML, segment names
// and rules) the way Open will; InvalidArgument naming the problem.
Status ValidateProfileOptions(const ProfileOptions& options);

// The sections of a profile JSON; ?fields= picks some (id and userId always).
enum ProfileField : uint32_t {
  kFieldTraits = 1u << 0,
  kFieldAttributes = 1u << 1,
  kFieldFeatures = 1u << 2,
  kFieldSegments = 1u << 3,
  kFieldIdentities = 1u << 4,
  kAllProfileFields = (1u << 5) - 1,
};

// What ?fields= asked for: sections, and single features ("features.events_7d").
struct FieldSelection {
  uint32_t sections = kAllProfileFields;
  std::vector<std::string> features;  // empty: every feature (when kFieldFeatures)
};
// "traits,features.events_7d,segments" → selection. Empty text: everything.
// InvalidArgument naming an unknown field.
Result<FieldSelection> ParseFieldSelection(std::string_view text);

// One row of `sluice attributes load`: a userId and a JSON object of its attributes.
struct AttributeRow {
  std::string user_id;
  std::string json;  // object text
};

class ProfileStore {
 public:
  // Opens (creating) the RocksDB at options.db_path with its column families
  // and compiles the features and segments. InvalidArgument for bad
  // definitions; IOError/Corruption from RocksDB (e.g. the database is open
  // in another process).
  static Result<std::unique_ptr<ProfileStore>> Open(const ProfileOptions& options);
  ~ProfileStore();
  ProfileStore(const ProfileStore&) = delete;
  ProfileStore& operator=(const ProfileStore&) = delete;

  // The profile `id` (a userId, anonymousId, email, phone or TYPE:VALUE
  // external id, or any id linked to it) as JSON, with features evaluated
  // as of `now`. NotFound for an unknown id;
  // InvalidArgument for a requested feature that is not defined.
  Result<std::string> GetJson(std::string_view id, const FieldSelection& fields, UnixMicros now) const;

  // Merges each row's attributes into the stored ones (keys in a row replace
  // the same keys; others stay), in one batch. InvalidArgument naming the row
  // for an empty userId or a value that is not a JSON object.
  Status PutAttributes(const std::vector<AttributeRow>& rows);

  // Reads the profiles and attributes families once so their blocks are in
  // the block cache, and the profiles keyed by a userId (with their
  // attributes) are in the read cache, stopping when both are full (the
  // read cache at 90 %): the first reads after a restart then cost what
  // later ones do. Takes no lock a reader or the builder waits on; a
  // profile the builder writes meanwhile is not kept. Returns the bytes the
  // block cache holds.
  Result<size_t> WarmCache();

  // The read cache (ProfileOptions::read_cache_bytes) now: entries, bytes
  // charged, and lookups by outcome since Open.
  struct ReadCacheStats {
    size_t entries = 0;
    size_t bytes = 0;
    uint64_t hits = 0, misses = 0;
  };
  ReadCacheStats read_cache_stats() const;

  // The first log offset not yet applied (0 for a new store).
  Result<log::LogOffset> NextOffset() const;
  // Late events kept by the `quarantine` late policy, oldest first, as
  // (log offset, event JSON); at most `limit`. The quarantine family keeps
  // the event's log encoding, so this is also how they could be re-applied.
  Result<std::vector<std::pair<uint64_t, std::string>>> LateEvents(size_t limit) const;
  // How many profiles are in `segment` (from the index).
  Result<uint64_t> SegmentSize(std::string_view segment) const;

  const ProfileOptions& options() const;

 private:
  struct Impl;
  explicit ProfileStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class ProfileBuilder;
  friend class SegmentWebhook;  // segment_webhook.h: the outbox family
};

// One row of the warehouse's identity_map: a linked identifier and the
// canonical id of its profile.
struct IdentityMapEntry {
  identity::Identifier id;
  identity::Identifier canonical;
  int64_t linked_at_ms = 0;  // event time of the earliest accepted link touching `id`
};
// The identity map of the store at options.db_path (IdentityGraph::
// CanonicalMap of its links under options.identity), read through a
// read-only RocksDB handle, so it works while a server's builder holds the
// store; it sees the last checkpoint. Ids never linked are not in it (each
// is its own canonical id). Empty when there is no store yet.
Result<std::vector<IdentityMapEntry>> ReadIdentityMap(const ProfileOptions& options);

// Crash points for tests: the checkpoint stops right after the named step
// and the builder refuses further work, as if the process died.
enum class ProfileCrashPoint { kNone, kBeforeBatch, kAfterBatch };

class ProfileBuilder {
 public:
  // Registers the log consumer and positions after the store's last
  // checkpoint. `store`, `log` and `metrics` must outlive the builder (its
  // gauges read it: `metrics` must not be rendered after it is gone).
  static Result<std::unique_ptr<ProfileBuilder>> Open(ProfileStore* store, log::Log* log,
                                                      monitor::Registry* metrics);
  ~ProfileBuilder();  // joins the thread WITHOUT a checkpoint (see Stop)
  ProfileBuilder(const ProfileBuilder&) = delete;
  ProfileBuilder& operator=(const ProfileBuilder&) = delete;

  // Applies records from the log up to its durable end (at most
  // `max_records`); checkpoints when one is due. Returns records read.
  Result<uint64_t> Poll(uint64_t max_records = 1 << 16);
  // Writes the checkpoint batch now (a no-op when nothing changed).
  Status Checkpoint();
  // Poll until the log's end, then Checkpoint.
  Status CatchUp();

  void Start();
  // Stops the thread and checkpoints. Returns the last error the thread met.
  Status Stop();

  // Why `id` is in its profile: members, links with rule, evidence and
  // time, refused links. `id` is TYPE:VALUE ("email:ann@example.com") or a
  // bare id, tried as userId, anonymousId, email, phone. NotFound when the
  // graph does not hold it (an id never linked is a profile of its own).
  Result<identity::Explanation> Explain(std::string_view id) const;

  struct UnmergeSummary {
    size_t links_removed = 0;
    std::vector<std::string> profiles;  // profile keys (kind+id) recomputed, sorted
    uint64_t records_read = 0;          // log records re-read to recompute them
  };
  // Detaches `id` from its profile (with `other`: removes only the link
  // between the two), recomputes every profile that held a former member
  // from the log records still retained, and checkpoints. Call after
  // CatchUp. A removed link stays refused if events ask for it again.
  Result<UnmergeSummary> Unmerge(std::string_view id, std::string_view other = {});

  // Fuzzy matches waiting for a decision, best score first; record ids are
  // profile keys (ProfileKeyName gives TYPE:VALUE).
  std::vector<identity::Match> PendingReviews() const;
  // Accepts (links the two profiles, rule "review") or rejects (never
  // queued again) the pending match between `a` and `b` (TYPE:VALUE or bare
  // ids, as Explain), then checkpoints. NotFound if no such match is pending.
  Status DecideReview(std::string_view a, std::string_view b, bool accept);

  struct ResolveSummary {
    identity::ResolveStats stats;
    uint64_t links_accepted = 0;  // auto-merges the graph accepted (others refused by a limit)
    uint64_t queued = 0;          // new review items
  };
  // Batch fuzzy matching over every profile: auto-merges and review offers
  // as the incremental path would make them, then a checkpoint. Call after
  // CatchUp. `progress` as FuzzyMatcher::ResolveAll.
  Result<ResolveSummary> Resolve(unsigned threads, const std::function<void(uint64_t, uint64_t)>& progress);

  log::LogOffset next_offset() const;     // next record to apply
  log::LogOffset checkpointed() const;    // next record after the last checkpoint; from any thread
  void set_crash_point(ProfileCrashPoint p);

 private:
  struct Impl;
  explicit ProfileBuilder(std::unique_ptr<Impl> impl);
  void Loop();
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::profile
