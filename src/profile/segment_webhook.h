// Private to the profile part: the segment webhook's outbox (the outbox
// family) and the thread that posts it, off the builder's thread.
//
// At least once, across restarts and crashes. A checkpoint puts one entry
// per segment change (a profile entered or left a segment) into its own
// batch (Stage), under a sequence that only grows (8 bytes, big-endian; the
// next one is kept in meta.outbox_next by the same batch, so ids never
// repeat): a change is durable exactly when the checkpoint that made it is.
// The delivery thread posts the entries in sequence order, one at a time,
// and deletes an entry only after a 2xx. So an entry committed but not yet
// posted, or posted but whose delete was not yet durable, is posted at the
// next open: a receiver dedupes re-posts by "id". A post that fails is
// retried with backoff (kInitialBackoffMs doubling to kMaxBackoffMs) for as
// long as it takes; later entries wait behind it, keeping the order. Nothing
// is dropped except by the bound: a checkpoint that would leave more than
// `max_entries` entries deletes the oldest in its own batch (a receiver sees
// a gap in the ids).
//
// Body: {"segment":"power_users","change":"entered"|"left","userId":"u1"
// (or "anonymousId", "email", "phone", "externalId"),"at":"2026-…Z",
// "id":"42"} (id: the sequence in decimal).
// sluice_segment_webhook_posts_total{outcome}: delivered (a 2xx; the entry
// is deleted), failed (an attempt that failed; the entry stays and is
// retried), dropped (deleted by the bound, or left by an earlier
// configuration with a webhook when none is configured now: Clear). Gauge
// sluice_segment_webhook_outbox_entries: the entries not yet delivered.
//
// Threading: Stage and Committed on the builder's thread; one delivery
// thread. Both read and move the outbox's bounds under one mutex; RocksDB
// writes go through ProfileStore::Impl::Write from either thread.
#pragma once

#include <rocksdb/write_batch.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/alert_delivery.h"
#include "monitor/monitor.h"
#include "profile/profile_store_impl.h"

namespace sluice::profile {

class SegmentWebhook {
 public:
  static constexpr int64_t kInitialBackoffMs = 500;
  static constexpr int64_t kMaxBackoffMs = 60'000;
  static constexpr int64_t kTimeoutMs = 5000;

  // Counts the entries `store`'s outbox holds and finds the next sequence.
  // With a transport, starts the delivery thread, which posts those entries
  // first; without one (ProfileOptions::post_segment_webhook false) only
  // fills the outbox. `store` and `metrics` must outlive it.
  static Result<std::unique_ptr<SegmentWebhook>> Open(ProfileStore::Impl* store, std::string url, uint64_t max_entries,
                                                      std::unique_ptr<monitor::WebhookTransport> transport,
                                                      monitor::Registry* metrics);
  // No webhook configured: deletes what an earlier configuration left in
  // `store`'s outbox (nothing would post it) and counts it dropped.
  static Status Clear(ProfileStore::Impl* store, monitor::Registry* metrics);

  ~SegmentWebhook();  // waits for a post in flight (at most kTimeoutMs)
  SegmentWebhook(const SegmentWebhook&) = delete;
  SegmentWebhook& operator=(const SegmentWebhook&) = delete;

  // On the builder's thread, building a checkpoint batch: puts `bodies`
  // (JSON objects without their closing brace: `,"id":"N"}` is appended to
  // each) into `batch` under the next sequences, in order, and deletes the
  // oldest entries beyond the bound. Their delivery waits for Committed. A
  // batch that then fails to commit leaves the counts ahead until the
  // builder is reopened, which it must be anyway.
  Status Stage(std::vector<std::string>* bodies, rocksdb::WriteBatch* batch);
  // The batch Stage filled is durable: its entries may be posted.
  void Committed();

 private:
  SegmentWebhook(ProfileStore::Impl* store, std::string url, uint64_t max_entries,
                 std::unique_ptr<monitor::WebhookTransport> transport, monitor::Registry* metrics);
  void Loop();
  // The first entry in [from, to): its sequence and body; false when none.
  Result<bool> First(uint64_t from, uint64_t to, uint64_t* seq, std::string* body) const;

  static constexpr uint64_t kNone = ~uint64_t{0};
  ProfileStore::Impl* store_;
  std::string url_;
  uint64_t max_entries_;
  std::unique_ptr<monitor::WebhookTransport> transport_;
  monitor::Counter* delivered_;
  monitor::Counter* failed_;
  monitor::Counter* dropped_;
  monitor::Gauge* entries_gauge_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Every entry the outbox holds is in [head_, tail_): below head_ each is
  // delivered or dropped (its delete may still be on its way), tail_ is the
  // next sequence. Entries below committed_tail_ are durable and may be
  // posted. Sequences can be missing in between (this checkpoint's own
  // oldest, dropped by the bound before they were written; a delivered
  // entry whose delete a crash lost while a later drop survived).
  uint64_t head_ = 0, tail_ = 1, committed_tail_ = 1;
  uint64_t entries_ = 0;       // in [head_, tail_), staged ones included
  uint64_t in_flight_ = kNone;  // the sequence being posted
  // The bound dropped the entry in flight; its post's outcome counts it
  // (delivered after all, or dropped), not the checkpoint.
  bool in_flight_dropped_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::profile
