#include "dedup/dedup.h"

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "dedup/keys.h"
#include "monitor/monitor.h"

namespace sluice::dedup {

namespace internal {
// What a waiting duplicate needs to know about the ticket holding its original.
struct TicketState {
  enum class Outcome { kOpen, kCommitted, kAborted };
  std::mutex mu;
  std::condition_variable cv;
  Outcome outcome = Outcome::kOpen;

  void Resolve(Outcome o) {
    {
      std::lock_guard lock(mu);
      outcome = o;
    }
    cv.notify_all();
  }
};
}  // namespace internal

using internal::KeyHash;
using internal::TicketState;

namespace {
constexpr std::string_view kDuplicatesName = "sluice_dedup_duplicates_total";
constexpr std::string_view kDuplicatesHelp = "Events dropped as duplicates of an accepted event, by kind and source.";
constexpr std::string_view kChecksName = "sluice_dedup_checks_total";
constexpr std::string_view kChecksHelp = "Events judged by dedup, by verdict (new or duplicate).";
constexpr std::string_view kKeysName = "sluice_dedup_keys";
constexpr std::string_view kKeysHelp = "Live (accepted, unexpired) keys held per window, as of the last sweep.";
constexpr std::string_view kMemoryName = "sluice_dedup_memory_bytes";
constexpr std::string_view kMemoryHelp = "Memory held by each dedup window's tables.";
constexpr std::string_view kOtherSource = "other";

int64_t FloorSeconds(UnixMicros t) {
  int64_t s = t / kMicrosPerSecond;
  return (t % kMicrosPerSecond < 0) ? s - 1 : s;
}

Decision::Verdict VerdictOf(Kind k) {
  switch (k) {
    case Kind::kMessageId: return Decision::kDuplicateMessageId;
    case Kind::kFingerprint: return Decision::kDuplicateFingerprint;
    case Kind::kComposite: return Decision::kDuplicateCompositeKey;
  }
  return Decision::kNew;
}

bool ValidFieldPath(std::string_view f) {
  if (f.empty() || f.front() == '.' || f.back() == '.' || f.find("..") != std::string_view::npos) return false;
  return true;
}
}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kMessageId: return "message_id";
    case Kind::kFingerprint: return "fingerprint";
    case Kind::kComposite: return "composite_key";
  }
  return "unknown";
}

std::string_view Decision::Name() const {
  switch (verdict) {
    case kNew: return "new";
    case kDuplicateMessageId: return KindName(Kind::kMessageId);
    case kDuplicateFingerprint: return KindName(Kind::kFingerprint);
    case kDuplicateCompositeKey: return KindName(Kind::kComposite);
  }
  return "unknown";
}

Status DedupConfig::Validate() const {
  if (message_id_window_seconds < 0) return Status::InvalidArgument("dedup.message_id_window: must be >= 0");
  for (const auto& [source, w] : message_id_window_by_source) {
    if (w < 0) return Status::InvalidArgument("dedup.message_id_window_by_source." + source + ": must be >= 0");
  }
  if (fingerprint_window_seconds < 0) return Status::InvalidArgument("dedup.fingerprint_window: must be >= 0");
  for (const std::string& f : volatile_fields) {
    if (!ValidFieldPath(f)) return Status::InvalidArgument("dedup.volatile_fields: bad path \"" + f + "\"");
  }
  for (size_t i = 0; i < composite_rules.size(); ++i) {
    const CompositeRule& r = composite_rules[i];
    std::string where = "dedup.composite_keys[" + std::to_string(i) + "]";
    if (r.event.empty()) return Status::InvalidArgument(where + ".event: must not be empty");
    if (r.fields.empty()) return Status::InvalidArgument(where + ".fields: must name at least one field");
    if (r.window_seconds <= 0) return Status::InvalidArgument(where + ".window: must be > 0");
    for (const std::string& f : r.fields) {
      if (!ValidFieldPath(f)) return Status::InvalidArgument(where + ".fields: bad path \"" + f + "\"");
      std::string_view root = std::string_view(f).substr(0, f.find('.'));
      bool nested = f.find('.') != std::string::npos;
      bool ok = nested ? (root == "properties" || root == "traits" || root == "context" || root == "integrations")
                       : (internal::IsEnvelopeName(root) && root != "type" && root != "timestamp" &&
                          root != "originalTimestamp" && root != "sentAt" && root != "receivedAt");
      if (!ok) {
        return Status::InvalidArgument(where + ".fields: \"" + f +
                                       "\" is neither an id/name field nor properties./traits./context./integrations.PATH");
      }
    }
  }
  if (shards == 0 || shards > 64 || (shards & (shards - 1)) != 0) {
    return Status::InvalidArgument("dedup.shards: must be a power of two from 1 to 64");
  }
  return Status::Ok();
}

int64_t DedupConfig::MaxWindowSeconds() const {
  int64_t w = std::max(message_id_window_seconds, fingerprint_window_seconds);
  for (const auto& [source, s] : message_id_window_by_source) w = std::max(w, s);
  for (const CompositeRule& r : composite_rules) w = std::max(w, r.window_seconds);
  return w;
}

// ---- Ticket ----

Ticket::Ticket(Deduplicator* owner, std::shared_ptr<TicketState> state) : owner_(owner), state_(std::move(state)) {}
Ticket::Ticket(Ticket&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)),
      state_(std::move(o.state_)),
      reserved_(std::move(o.reserved_)),
      originals_(std::move(o.originals_)),
      resolved_(std::exchange(o.resolved_, true)),
      epoch_(o.epoch_) {}
Ticket& Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    if (owner_ != nullptr && !resolved_) owner_->Abort(*this);
    owner_ = std::exchange(o.owner_, nullptr);
    state_ = std::move(o.state_);
    reserved_ = std::move(o.reserved_);
    originals_ = std::move(o.originals_);
    resolved_ = std::exchange(o.resolved_, true);
    epoch_ = o.epoch_;
  }
  return *this;
}
Ticket::~Ticket() {
  if (owner_ != nullptr && !resolved_) owner_->Abort(*this);
}

Status Ticket::AwaitOriginals(std::chrono::milliseconds timeout) {
  assert(resolved_ && "AwaitOriginals before Commit/Abort could deadlock two tickets");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& original : originals_) {
    std::unique_lock lock(original->mu);
    if (!original->cv.wait_until(lock, deadline, [&] { return original->outcome != TicketState::Outcome::kOpen; })) {
      return Status::ResourceExhausted("an earlier copy of an event in this request is still being stored; retry");
    }
    if (original->outcome == TicketState::Outcome::kAborted) {
      return Status::ResourceExhausted("an earlier copy of an event in this request was not stored; retry");
    }
  }
  return Status::Ok();
}

// ---- Deduplicator ----

struct Deduplicator::KeySet {
  struct Key {
    Kind kind;
    KeyHash hash;
    int64_t window_s;
    int rule;
  };
  Key keys[kKindCount];
  size_t n = 0;
};

struct Deduplicator::Derived {
  explicit Derived(const DedupConfig& c) : deriver(c) {}
  internal::KeyDeriver deriver;
};

struct Deduplicator::Metrics {
  monitor::Registry* registry;
  size_t max_sources;
  monitor::Counter* checks_new;
  monitor::Counter* checks_duplicate;
  monitor::Gauge* keys[kKindCount];
  monitor::Gauge* memory[kKindCount];
  std::mutex mu;  // guards by_source (touched only on duplicates)
  std::unordered_map<std::string, monitor::Counter*> by_source[kKindCount];
  monitor::Counter* other[kKindCount] = {};
};

Result<std::unique_ptr<Deduplicator>> Deduplicator::Create(DedupConfig config, monitor::Registry* metrics) {
  SLUICE_RETURN_IF_ERROR(config.Validate());
  return std::unique_ptr<Deduplicator>(new Deduplicator(std::move(config), metrics));
}

Deduplicator::Deduplicator(DedupConfig config, monitor::Registry* registry)
    : config_(std::move(config)), derived_(std::make_unique<Derived>(config_)) {
  for (auto& t : tables_) t = std::make_unique<internal::KeyTable>(config_.shards);
  if (registry != nullptr) {
    metrics_ = std::make_unique<Metrics>();
    metrics_->registry = registry;
    metrics_->max_sources = config_.max_source_labels;
    metrics_->checks_new = registry->GetCounter(kChecksName, kChecksHelp, {{"verdict", "new"}});
    metrics_->checks_duplicate = registry->GetCounter(kChecksName, kChecksHelp, {{"verdict", "duplicate"}});
    for (size_t k = 0; k < kKindCount; ++k) {
      std::string window(KindName(static_cast<Kind>(k)));
      metrics_->keys[k] = registry->GetGauge(kKeysName, kKeysHelp, {{"window", window}});
      metrics_->memory[k] = registry->GetGauge(kMemoryName, kMemoryHelp, {{"window", window}});
    }
  }
}

Deduplicator::~Deduplicator() = default;

Ticket Deduplicator::Begin() {
  Ticket t(this, std::make_shared<TicketState>());
  for (;;) {
    uint32_t e = epoch_.load(std::memory_order_acquire);
    open_tickets_[e].fetch_add(1, std::memory_order_acq_rel);
    // Re-check: a snapshot that flipped the epoch meanwhile may already have
    // seen the old counter drained; count this ticket in the new epoch.
    if (epoch_.load(std::memory_order_acquire) == e) {
      t.epoch_ = e;
      return t;
    }
    open_tickets_[e].fetch_sub(1, std::memory_order_acq_rel);
  }
}

void Deduplicator::ComputeKeys(const Event& e, KeySet* ks) const {
  ks->n = 0;
  int64_t mid_window = config_.message_id_window_seconds;
  if (!config_.message_id_window_by_source.empty()) {
    auto it = config_.message_id_window_by_source.find(std::string_view(e.source));
    if (it != config_.message_id_window_by_source.end()) mid_window = it->second;
  }
  if (mid_window > 0 && !e.message_id.empty()) {
    ks->keys[ks->n++] = {Kind::kMessageId, derived_->deriver.MessageIdKey(e.message_id), mid_window, -1};
  }
  bool has_fingerprint;
  KeyHash fp, ck;
  int rule;
  derived_->deriver.DeriveKeys(e, &has_fingerprint, &fp, &rule, &ck);
  if (has_fingerprint) ks->keys[ks->n++] = {Kind::kFingerprint, fp, config_.fingerprint_window_seconds, -1};
  if (rule >= 0) ks->keys[ks->n++] = {Kind::kComposite, ck, config_.composite_rules[rule].window_seconds, rule};
}

Decision Deduplicator::Check(Ticket& ticket, const Event& e, UnixMicros now) {
  assert(ticket.owner_ == this && !ticket.resolved_);
  KeySet ks;
  ComputeKeys(e, &ks);
  const int64_t now_s = FloorSeconds(now);
  const size_t mark = ticket.reserved_.size();
  std::shared_ptr<void> owner_ref = ticket.state_;
  for (size_t i = 0; i < ks.n; ++i) {
    const KeySet::Key& k = ks.keys[i];
    std::shared_ptr<void> other;
    internal::Probe p = tables_[static_cast<size_t>(k.kind)]->Reserve(k.hash, now_s, now_s + k.window_s, owner_ref, &other);
    if (p == internal::Probe::kAbsent) {
      ticket.reserved_.push_back({k.kind, k.hash});
      continue;
    }
    // A duplicate: give back what this event reserved so far.
    while (ticket.reserved_.size() > mark) {
      const Ticket::Reservation& r = ticket.reserved_.back();
      tables_[static_cast<size_t>(r.kind)]->Release(r.key, ticket.state_.get());
      ticket.reserved_.pop_back();
    }
    Decision d;
    d.verdict = VerdictOf(k.kind);
    d.key = k.hash;
    d.rule = k.rule;
    if (p == internal::Probe::kPending) {
      d.original_in_flight = true;
      // An original in this same ticket shares this request's fate; another
      // ticket's is awaited by AwaitOriginals.
      if (other != nullptr && other.get() != ticket.state_.get()) {
        ticket.originals_.push_back(std::static_pointer_cast<TicketState>(std::move(other)));
      }
    }
    CountDuplicate(k.kind, e.source);
    return d;
  }
  if (metrics_) metrics_->checks_new->Inc();
  return Decision{};
}

void Deduplicator::ResolveTicket(Ticket& ticket, bool commit) {
  if (ticket.resolved_) return;
  for (const Ticket::Reservation& r : ticket.reserved_) {
    internal::KeyTable& t = *tables_[static_cast<size_t>(r.kind)];
    if (commit) t.Confirm(r.key, ticket.state_.get());
    else t.Release(r.key, ticket.state_.get());
  }
  ticket.reserved_.clear();
  ticket.resolved_ = true;
  open_tickets_[ticket.epoch_].fetch_sub(1, std::memory_order_acq_rel);
  ticket.state_->Resolve(commit ? TicketState::Outcome::kCommitted : TicketState::Outcome::kAborted);
}

void Deduplicator::Commit(Ticket& ticket) { ResolveTicket(ticket, true); }
void Deduplicator::Abort(Ticket& ticket) { ResolveTicket(ticket, false); }

size_t Deduplicator::Remember(const Event& e, UnixMicros first_seen) {
  KeySet ks;
  ComputeKeys(e, &ks);
  const int64_t s = FloorSeconds(first_seen);
  size_t inserted = 0;
  for (size_t i = 0; i < ks.n; ++i) {
    const KeySet::Key& k = ks.keys[i];
    inserted += tables_[static_cast<size_t>(k.kind)]->Insert(k.hash, s, s + k.window_s) ? 1 : 0;
  }
  return inserted;
}

void Deduplicator::CountDuplicate(Kind kind, std::string_view source) {
  if (!metrics_) return;
  metrics_->checks_duplicate->Inc();
  monitor::Counter* c;
  {
    std::lock_guard lock(metrics_->mu);
    auto& by_source = metrics_->by_source[static_cast<size_t>(kind)];
    auto it = by_source.find(std::string(source));
    if (it != by_source.end()) {
      c = it->second;
    } else if (by_source.size() < metrics_->max_sources) {
      c = metrics_->registry->GetCounter(kDuplicatesName, kDuplicatesHelp,
                                         {{"kind", std::string(KindName(kind))}, {"source", std::string(source)}});
      by_source.emplace(std::string(source), c);
    } else {
      // Bound the label's cardinality: sources past the limit share "other".
      monitor::Counter*& other = metrics_->other[static_cast<size_t>(kind)];
      if (other == nullptr) {
        other = metrics_->registry->GetCounter(kDuplicatesName, kDuplicatesHelp,
                                               {{"kind", std::string(KindName(kind))}, {"source", std::string(kOtherSource)}});
      }
      c = other;
    }
  }
  c->Inc();
}

void Deduplicator::Expire(UnixMicros now) {
  const int64_t now_s = FloorSeconds(now);
  for (size_t k = 0; k < kKindCount; ++k) {
    tables_[k]->Expire(now_s);
    if (metrics_) {
      internal::TableCounts c = tables_[k]->Count(now_s);
      metrics_->keys[k]->Set(static_cast<double>(c.live));
      metrics_->memory[k]->Set(static_cast<double>(c.bytes));
    }
  }
}

DedupStats Deduplicator::Stats(UnixMicros now) const {
  const int64_t now_s = FloorSeconds(now);
  DedupStats st;
  for (size_t k = 0; k < kKindCount; ++k) {
    internal::TableCounts c = tables_[k]->Count(now_s);
    WindowStats& w = st.windows[k];
    w.kind = static_cast<Kind>(k);
    w.keys = c.live;
    w.pending = c.pending;
    w.occupied_slots = c.occupied;
    w.slots = c.slots;
    w.memory_bytes = c.bytes;
    st.memory_bytes += c.bytes;
  }
  st.windows[0].window_seconds = config_.message_id_window_seconds;
  st.windows[1].window_seconds = config_.fingerprint_window_seconds;
  for (const CompositeRule& r : config_.composite_rules) {
    st.windows[2].window_seconds = std::max(st.windows[2].window_seconds, r.window_seconds);
  }
  return st;
}

}  // namespace sluice::dedup
