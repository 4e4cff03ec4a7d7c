#include "profile/segment_webhook.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/coding.h"

namespace sluice::profile {

namespace {

constexpr const char* kPostsName = "sluice_segment_webhook_posts_total";
constexpr const char* kPostsHelp = "Segment change posts to the segment webhook, by outcome.";

// The sequence of the outbox entry `it` is at.
Status SequenceAt(const rocksdb::Iterator& it, uint64_t* seq) {
  if (!DecodeOrderedKey(it.key().ToStringView(), seq)) return Status::Corruption("profiles: bad outbox key");
  return Status::Ok();
}

}  // namespace

SegmentWebhook::SegmentWebhook(ProfileStore::Impl* store, std::string url, uint64_t max_entries,
                               std::unique_ptr<monitor::WebhookTransport> transport, monitor::Registry* metrics)
    : store_(store), url_(std::move(url)), max_entries_(max_entries), transport_(std::move(transport)) {
  delivered_ = metrics->GetCounter(kPostsName, kPostsHelp, {{"outcome", "delivered"}});
  failed_ = metrics->GetCounter(kPostsName, kPostsHelp, {{"outcome", "failed"}});
  dropped_ = metrics->GetCounter(kPostsName, kPostsHelp, {{"outcome", "dropped"}});
  entries_gauge_ = metrics->GetGauge("sluice_segment_webhook_outbox_entries",
                                     "Segment changes in the outbox, not yet delivered to the segment webhook.");
}

Result<std::unique_ptr<SegmentWebhook>> SegmentWebhook::Open(ProfileStore::Impl* store, std::string url,
                                                             uint64_t max_entries,
                                                             std::unique_ptr<monitor::WebhookTransport> transport,
                                                             monitor::Registry* metrics) {
  std::unique_ptr<SegmentWebhook> w(
      new SegmentWebhook(store, std::move(url), max_entries, std::move(transport), metrics));
  std::string next;
  rocksdb::Status s = store->db->Get(rocksdb::ReadOptions(), store->meta, kMetaOutboxNext, &next);
  if (!s.IsNotFound()) {
    SLUICE_RETURN_IF_ERROR(FromRocks(s, "read the outbox sequence"));
    if (next.size() != 8) return Status::Corruption("profiles: meta.outbox_next is not 8 bytes");
    w->tail_ = DecodeFixed64(next.data());
  }
  std::unique_ptr<rocksdb::Iterator> it(store->db->NewIterator(rocksdb::ReadOptions(), store->outbox));
  uint64_t first = kNone;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq = 0;
    SLUICE_RETURN_IF_ERROR(SequenceAt(*it, &seq));
    if (first == kNone) first = seq;
    // meta.outbox_next is written by the batch that writes the entries, so
    // this only guards a store that lost it.
    w->tail_ = std::max(w->tail_, seq + 1);
    ++w->entries_;
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read the outbox"));
  w->head_ = first == kNone ? w->tail_ : first;
  w->committed_tail_ = w->tail_;
  w->entries_gauge_->Set(static_cast<double>(w->entries_));
  if (w->transport_) {
    SegmentWebhook* raw = w.get();
    w->thread_ = std::thread([raw] { raw->Loop(); });
  }
  return w;
}

Status SegmentWebhook::Clear(ProfileStore::Impl* store, monitor::Registry* metrics) {
  std::unique_ptr<rocksdb::Iterator> it(store->db->NewIterator(rocksdb::ReadOptions(), store->outbox));
  uint64_t n = 0;
  std::string first, last;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (n++ == 0) first = it->key().ToString();
    last = it->key().ToString();
  }
  SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read the outbox"));
  if (n == 0) return Status::Ok();
  rocksdb::WriteBatch batch;
  batch.DeleteRange(store->outbox, first, last + '\0');  // the end is exclusive
  // Not synced: a clear lost to a crash is done again at the next open.
  SLUICE_RETURN_IF_ERROR(store->Write(rocksdb::WriteOptions(), &batch, "clear the segment webhook outbox"));
  metrics->GetCounter(kPostsName, kPostsHelp, {{"outcome", "dropped"}})->Inc(n);
  std::fprintf(stderr, "sluice: profiles: no segment_webhook configured: dropped %llu segment changes left in the outbox\n",
               static_cast<unsigned long long>(n));
  return Status::Ok();
}

SegmentWebhook::~SegmentWebhook() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status SegmentWebhook::Stage(std::vector<std::string>* bodies, rocksdb::WriteBatch* batch) {
  std::lock_guard<std::mutex> l(mu_);
  const uint64_t n = bodies->size();
  // More changes than the bound in one checkpoint: their own oldest are
  // never written (their sequences are skipped, so the ids show the gap).
  const uint64_t skipped = n > max_entries_ ? n - max_entries_ : 0;
  const uint64_t kept = n - skipped;
  uint64_t dropped = skipped;
  uint64_t over = entries_ + kept > max_entries_ ? entries_ + kept - max_entries_ : 0;
  if (over > 0) {
    // The oldest entries are all durable: the builder's earlier checkpoints
    // wrote them, synced, and only this thread stages.
    const std::string end = OrderedKey(committed_tail_);
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(store_->db->NewIterator(ro, store_->outbox));
    for (it->Seek(OrderedKey(head_)); it->Valid() && over > 0; it->Next(), --over) {
      uint64_t seq = 0;
      SLUICE_RETURN_IF_ERROR(SequenceAt(*it, &seq));
      batch->Delete(store_->outbox, it->key());
      if (seq == in_flight_) {
        in_flight_dropped_ = true;
      } else {
        ++dropped;
      }
      head_ = seq + 1;
      --entries_;
    }
    SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read the outbox"));
  }
  tail_ += skipped;
  for (uint64_t i = skipped; i < n; ++i) {
    std::string& body = (*bodies)[i];
    body += ",\"id\":\"";
    body += std::to_string(tail_);
    body += "\"}";
    batch->Put(store_->outbox, OrderedKey(tail_), body);
    ++tail_;
  }
  entries_ += kept;
  std::string next;
  PutFixed64(&next, tail_);
  batch->Put(store_->meta, kMetaOutboxNext, next);
  if (dropped > 0) dropped_->Inc(dropped);
  entries_gauge_->Set(static_cast<double>(entries_));
  return Status::Ok();
}

void SegmentWebhook::Committed() {
  {
    std::lock_guard<std::mutex> l(mu_);
    committed_tail_ = tail_;
  }
  cv_.notify_all();
}

Result<bool> SegmentWebhook::First(uint64_t from, uint64_t to, uint64_t* seq, std::string* body) const {
  const std::string end = OrderedKey(to);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store_->db->NewIterator(ro, store_->outbox));
  it->Seek(OrderedKey(from));
  if (!it->Valid()) {
    SLUICE_RETURN_IF_ERROR(FromRocks(it->status(), "read the outbox"));
    return false;
  }
  SLUICE_RETURN_IF_ERROR(SequenceAt(*it, seq));
  body->assign(it->value().data(), it->value().size());
  return true;
}

void SegmentWebhook::Loop() {
  int64_t backoff_ms = kInitialBackoffMs;
  std::string body, last_error;
  std::unique_lock<std::mutex> l(mu_);
  // Waits out the backoff after a failure; false when stopping.
  auto back_off = [&] {
    if (cv_.wait_for(l, std::chrono::milliseconds(backoff_ms), [&] { return stop_; })) return false;
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    return true;
  };
  for (;;) {
    cv_.wait(l, [&] { return stop_ || head_ < committed_tail_; });
    if (stop_) return;
    const uint64_t from = head_, to = committed_tail_;
    l.unlock();
    uint64_t seq = 0;
    Result<bool> found = First(from, to, &seq, &body);
    l.lock();
    if (!found.ok()) {
      if (found.status().ToString() != last_error) {
        std::fprintf(stderr, "sluice: profiles: segment webhook: %s\n", found.status().ToString().c_str());
      }
      last_error = found.status().ToString();
      if (!back_off()) return;
      continue;
    }
    if (!*found) {
      head_ = std::max(head_, to);  // only missing sequences below `to`
      continue;
    }
    if (seq < head_) continue;  // the bound dropped it meanwhile
    in_flight_ = seq;
    in_flight_dropped_ = false;
    l.unlock();
    const Status posted = transport_->Post(url_, body, kTimeoutMs);
    l.lock();
    in_flight_ = kNone;
    if (in_flight_dropped_) {
      // Deleted by a checkpoint's bound while it was posted: counted here.
      (posted.ok() ? delivered_ : dropped_)->Inc();
      continue;
    }
    if (!posted.ok()) {
      failed_->Inc();
      if (!back_off()) return;
      continue;
    }
    backoff_ms = kInitialBackoffMs;
    head_ = seq + 1;
    --entries_;
    entries_gauge_->Set(static_cast<double>(entries_));
    l.unlock();
    rocksdb::WriteBatch batch;
    batch.Delete(store_->outbox, OrderedKey(seq));
    // Not synced: a delete lost to a crash only posts the entry again.
    const Status deleted = store_->Write(rocksdb::WriteOptions(), &batch, "delete a delivered segment webhook post");
    if (!deleted.ok()) std::fprintf(stderr, "sluice: profiles: segment webhook: %s\n", deleted.ToString().c_str());
    delivered_->Inc();  // after the delete, so a reader of the counter finds the outbox without it
    l.lock();
  }
}

}  // namespace sluice::profile
