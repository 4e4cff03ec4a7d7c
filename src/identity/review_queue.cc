// ReviewQueue: fuzzy matches between the two thresholds, decided by a person.
#include "identity/identity.h"

namespace sluice::identity {

std::pair<std::string, std::string> ReviewQueue::PairKey(std::string_view a, std::string_view b) {
  return a < b ? std::pair<std::string, std::string>{a, b} : std::pair<std::string, std::string>{b, a};
}

bool ReviewQueue::Offer(const Match& match) {
  auto key = PairKey(match.a, match.b);
  if (accepted_.contains(key) || rejected_.contains(key)) return false;
  return pending_.emplace(std::move(key), match).second;
}

std::vector<Match> ReviewQueue::List() const {
  std::vector<Match> out;
  out.reserve(pending_.size());
  for (const auto& [key, match] : pending_) out.push_back(match);
  std::stable_sort(out.begin(), out.end(), [](const Match& x, const Match& y) { return x.score > y.score; });
  return out;
}

Result<LinkEvidence> ReviewQueue::Accept(std::string_view a, std::string_view b, int64_t now_ms) {
  auto it = pending_.find(PairKey(a, b));
  if (it == pending_.end()) {
    return Status::NotFound("no pending review for " + std::string(a) + " and " + std::string(b));
  }
  LinkEvidence evidence = it->second.evidence;
  evidence.rule = "review";
  evidence.time_ms = now_ms;
  accepted_.insert(it->first);
  pending_.erase(it);
  return evidence;
}

Status ReviewQueue::Reject(std::string_view a, std::string_view b) {
  auto it = pending_.find(PairKey(a, b));
  if (it == pending_.end()) {
    return Status::NotFound("no pending review for " + std::string(a) + " and " + std::string(b));
  }
  rejected_.insert(it->first);
  pending_.erase(it);
  return Status::Ok();
}

bool ReviewQueue::WasRejected(std::string_view a, std::string_view b) const {
  return rejected_.contains(PairKey(a, b));
}

}  // namespace sluice::identity
