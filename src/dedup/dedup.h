// dedup: Sluice's windowed, exact duplicate removal at ingest.
//
// What it owns: three windows of remembered keys — messageId, payload
// fingerprint, and composite keys (per event name, from named fields) — held
// in memory as compact sharded hash tables, plus their snapshot file
// (DATA/state/dedup.snap) and their rebuild from the durable log on start.
//
// How an event is judged (Deduplicator::Check), in this order:
//   1. messageId: the id was accepted within the id window (24 h by default;
//      per-source override by the source of the FIRST copy).
//   2. fingerprint: XXH3-128 over the canonical event minus volatile fields
//      (messageId, sentAt, receivedAt, context.library, _metadata by default):
//      envelope fields, plus a structural hash of each of properties/traits/
//      context/integrations/extra that ignores member order, whitespace and
//      string escaping (arrays stay ordered, numbers compare by their text).
//      10 min by default; per-event-name opt-out.
//   3. composite: for a track event whose name has a rule, the named fields
//      (e.g. userId + properties.order_id); a missing, null or empty field
//      means the event has no composite key.
// The first kind that matches wins; a new event reserves all its keys.
//
// Invariants:
// - A duplicate is one of an ACCEPTED event: Check only reserves keys (for
//   its Ticket); Commit (after the log reports the batch durable) makes them
//   remembered, Abort (or destroying the ticket) forgets them. A copy seen
//   while the original is still in flight is answered as a duplicate with
//   `original_in_flight`; the ticket records that, and Ticket::AwaitOriginals
//   tells the caller whether every such original was committed (if not, the
//   request must be failed retryably, so no copy is lost).
// - Windows are anchored at first-seen time, in whole seconds: an event at
//   second t duplicates a key first accepted at second f iff t − f < window.
//   Repeats never extend a window.
// - Exactness: keys are compared on 96 bits of their XXH3-128 hash (the table
//   stores 96 bits + a 31-bit expiry second in 16 bytes). A distinct key is
//   wrongly judged a duplicate only if those 96 bits equal a live key's: per
//   check ≤ n_live / 2^96. At 10^7 live keys and 10^6 checks/s for a year
//   (3.2·10^13 checks) that is ≤ 3.2·10^13 · 10^7 / 2^96 ≈ 4·10^-9 — never in
//   practice. A positive is always confirmed on the stored 96 bits; there is
//   no Bloom pre-filter because the probe itself is the cheap "new" path
//   (one or two cache lines).
// - Memory is bounded by the windows: expired keys stay only until their
//   shard is rebuilt (at 85 % occupancy or by Expire), ≤ ~27 bytes per key.
//
// Use from the ingest path (one ticket per request; `now` = received_at, so
// a rebuild from the log reproduces the same decisions):
//   Ticket t = dedup.Begin();
//   for each event e that passed the quality gate:
//     Decision d = dedup.Check(t, e, e.received_at_us);
//     if (d.duplicate()) { outcome "duplicate:" + d.Name(); do not append e; }
//   append the batch; when the log reports it:  ok ? dedup.Commit(t) : dedup.Abort(t);
//   (Commit/Abort only take shard mutexes briefly: fine in a log callback.)
//   then, off the log's thread: if (!t.AwaitOriginals(timeout).ok()) reply 503.
// On start: RebuildFromLog(dedup, log, SnapshotPath(data_dir), NowMicros());
// now and then: dedup.Expire(now); dedup.SaveSnapshot(path, log, now).
//
// Threading: Deduplicator is safe for concurrent use (a mutex per shard, no
// global lock). A Ticket belongs to one request and is used by one thread at
// a time; it must not outlive its Deduplicator.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "core/time.h"
#include "dedup/key_table.h"
#include "log/log.h"

namespace sluice::monitor {
class Registry;
class Counter;
}  // namespace sluice::monitor

namespace sluice::dedup {

enum class Kind : uint8_t { kMessageId = 0, kFingerprint = 1, kComposite = 2 };
constexpr size_t kKindCount = 3;
// "message_id", "fingerprint", "composite_key": the <kind> of `duplicate:<kind>`
// outcomes and of the metrics' `kind` label.
std::string_view KindName(Kind kind);

struct CompositeRule {
  std::string event;                  // track event name it applies to ("Order Completed")
  // Field paths: envelope names (userId, anonymousId, groupId, previousId,
  // event, name, type) or properties./traits./context./integrations. + a
  // dotted path inside that JSON object.
  std::vector<std::string> fields;
  int64_t window_seconds = 24 * 3600;
};

struct DedupConfig {
  int64_t message_id_window_seconds = 24 * 3600;     // 0 disables the kind
  std::map<std::string, int64_t, std::less<>> message_id_window_by_source;  // write key → seconds
  int64_t fingerprint_window_seconds = 10 * 60;      // 0 disables the kind
  // Paths left out of the fingerprint: envelope names (messageId, sentAt,
  // receivedAt, timestamp, originalTimestamp, …), a dotted path inside
  // properties/traits/context/integrations, or any other top-level name
  // (kept in Event::extra, e.g. `_metadata`).
  std::vector<std::string> volatile_fields = {"messageId", "sentAt", "receivedAt", "context.library", "_metadata"};
  std::vector<std::string> fingerprint_opt_out_events;  // track names that legitimately repeat
  std::vector<CompositeRule> composite_rules;
  size_t shards = 64;                                 // power of two, 1..64
  size_t max_source_labels = 64;                      // bound on the metrics' `source` label values

  // InvalidArgument naming the bad field (negative window, bad path, shards).
  Status Validate() const;
  int64_t MaxWindowSeconds() const;
};

struct Decision {
  enum Verdict : uint8_t { kNew = 0, kDuplicateMessageId, kDuplicateFingerprint, kDuplicateCompositeKey };
  Verdict verdict = kNew;
  bool original_in_flight = false;  // duplicate of a copy not yet committed
  internal::KeyHash key;            // the matching key's hash (duplicates only)
  int rule = -1;                    // composite: index into DedupConfig::composite_rules

  bool duplicate() const { return verdict != kNew; }
  // "new", "message_id", "fingerprint", "composite_key".
  std::string_view Name() const;
};

class Deduplicator;
namespace internal { struct TicketState; }

// The reservations and in-flight dependencies of one request (or one batch).
// Move-only. Destroying an uncommitted ticket aborts it.
class Ticket {
 public:
  Ticket(Ticket&&) noexcept;
  Ticket& operator=(Ticket&&) noexcept;
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket();

  // After Commit/Abort of this ticket: waits until every original this
  // ticket's duplicates deferred to is resolved. Ok when all were committed;
  // ResourceExhausted (retry) when one was aborted or `timeout` passed — then
  // a duplicate of this request was not stored anywhere and the request must
  // be failed so the client retries.
  Status AwaitOriginals(std::chrono::milliseconds timeout);
  size_t reserved() const { return reserved_.size(); }

 private:
  friend class Deduplicator;
  struct Reservation {
    Kind kind;
    internal::KeyHash key;
  };
  Ticket(Deduplicator* owner, std::shared_ptr<internal::TicketState> state);
  Deduplicator* owner_ = nullptr;
  std::shared_ptr<internal::TicketState> state_;
  std::vector<Reservation> reserved_;
  std::vector<std::shared_ptr<internal::TicketState>> originals_;
  bool resolved_ = false;
  uint32_t epoch_ = 0;  // which of the Deduplicator's open-ticket counters holds this one
};

struct WindowStats {
  Kind kind;
  int64_t window_seconds = 0;   // the default window of this kind (composite: the largest)
  uint64_t keys = 0;            // live, committed keys
  uint64_t pending = 0;         // reserved by in-flight tickets
  uint64_t occupied_slots = 0;  // live + pending + expired not yet swept
  uint64_t slots = 0;
  uint64_t memory_bytes = 0;
};

struct DedupStats {
  WindowStats windows[kKindCount];
  uint64_t memory_bytes = 0;
};

class Deduplicator {
 public:
  // REQUIRES: config.Validate().ok(). `metrics` may be null; when given it
  // must outlive the Deduplicator.
  static Result<std::unique_ptr<Deduplicator>> Create(DedupConfig config, monitor::Registry* metrics = nullptr);
  ~Deduplicator();
  Deduplicator(const Deduplicator&) = delete;
  Deduplicator& operator=(const Deduplicator&) = delete;

  const DedupConfig& config() const { return config_; }

  // A ticket for one request or batch.
  Ticket Begin();

  // Judges `e` (an event that passed the quality gate; quarantined events
  // are not deduplicated) as of `now` (its received_at). New: its keys are
  // reserved for `ticket`, and a second copy in the same ticket or any other
  // is a duplicate. Duplicate: nothing is reserved; the duplicate counter is
  // bumped at once (the event is dropped whatever happens to the batch).
  // REQUIRES: `ticket` came from this Deduplicator and is not resolved.
  Decision Check(Ticket& ticket, const Event& e, UnixMicros now);

  // The batch holding the ticket's new events is durable: remember its keys.
  void Commit(Ticket& ticket);
  // The batch was refused or failed: forget the ticket's reservations.
  void Abort(Ticket& ticket);

  // Remembers `e`'s keys as accepted at `first_seen` without a ticket (log
  // replay): each key is inserted unless live, so replaying the log in order
  // reproduces the state Check+Commit built. Returns the keys inserted.
  size_t Remember(const Event& e, UnixMicros first_seen);

  // Drops expired keys, shrinks tables and refreshes the keys/memory gauges
  // (call now and then, e.g. once a minute).
  void Expire(UnixMicros now);

  // Exact counts (scans every table: O(slots); for `sluice dedup stat`).
  DedupStats Stats(UnixMicros now) const;

  // Writes every live committed key to `path` atomically (temp file, fsync,
  // rename, directory fsync) with the log offset it covers, safely while
  // requests run: it reads covered = log.EndOffset(), then waits until every
  // ticket begun before that is resolved (so every batch durable below
  // `covered` is committed here), then writes. Keys of later batches may be
  // included too; replay re-remembers them harmlessly. Blocks for as long as
  // the oldest open ticket; one snapshot at a time. IOError on failure.
  Status SaveSnapshot(const std::string& path, const log::Log& log, UnixMicros now);
  // The same with `covered` given. REQUIRES: no Commit for a record below
  // `covered` is still to come (e.g. the log is closed and tickets drained).
  Status SaveSnapshot(const std::string& path, log::LogOffset covered, UnixMicros now) const;
  // Loads a snapshot into this (empty) Deduplicator. Returns the offset it
  // covers. NotFound when absent; Corruption on a bad checksum, magic,
  // version or length; FailedPrecondition when it covers past `log_end`
  // (it belongs to another log). Nothing is loaded on error (the caller
  // then rebuilds from the log).
  Result<log::LogOffset> LoadSnapshot(const std::string& path, log::LogOffset log_end, UnixMicros now);

 private:
  friend class Ticket;
  struct KeySet;
  Deduplicator(DedupConfig config, monitor::Registry* metrics);
  void ComputeKeys(const Event& e, KeySet* keys) const;
  void CountDuplicate(Kind kind, std::string_view source);
  void ResolveTicket(Ticket& ticket, bool commit);

  DedupConfig config_;
  std::unique_ptr<internal::KeyTable> tables_[kKindCount];
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
  struct Derived;
  std::unique_ptr<Derived> derived_;
  // Open tickets by epoch (see SaveSnapshot): Begin counts itself in the
  // current epoch; a snapshot flips the epoch and waits for the old one to drain.
  std::atomic<uint32_t> epoch_{0};
  std::atomic<int64_t> open_tickets_[2] = {0, 0};
  std::mutex snapshot_mu_;
};

struct RebuildReport {
  bool snapshot_used = false;
  uint64_t snapshot_covered = 0;   // log offset the snapshot covered
  std::string snapshot_problem;    // why a present snapshot was not used (empty: none)
  uint64_t records_read = 0;
  uint64_t events_remembered = 0;  // events inside the window, not quarantined
  uint64_t keys_inserted = 0;
};

// Restores `dedup` (freshly created) after a restart or kill -9: loads the
// snapshot at `snapshot_path` when it is present, valid and covers a range
// of `log` (empty path: none), then replays the durable log from the
// snapshot's offset (or the log's start), remembering every accepted event
// received within the largest window before `now`. A missing/corrupt
// snapshot falls back to the full replay (reported, not an error). Errors:
// Corruption/IOError from reading the log.
Status RebuildFromLog(Deduplicator& dedup, const log::Log& log, const std::string& snapshot_path, UnixMicros now,
                      RebuildReport* report = nullptr);

// DATA/state/dedup.snap for a data directory.
std::string SnapshotPath(const std::string& data_dir);

}  // namespace sluice::dedup
