// Private to the profile part: exact identity linking (identify / alias /
// any event that carries both ids), the one place that decides which profile
// an event belongs to. The identity part (src/identity) replaces this class
// with its graph; the builder only calls Resolve and Repoint.
//
// Model: every id is kind+id (profile_format.h). A profile's key is its
// canonical id: the userId when one is known, else the anonymousId. Links
// map a non-canonical id straight to its canonical key (never a chain).
// - An event with a userId applies to canon(userId). Its anonymousId, when
//   it still stands for an anonymous profile, is merged into that user.
//   An anonymousId already linked to another user stays with that user (two
//   people on one device are not merged; the event still counts for its
//   userId).
// - An alias (previousId → userId) merges canon(previousId) into
//   canon(userId), whichever kind previousId was.
//
// Threading: one thread (the profile builder's).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event.h"

namespace sluice::profile {

struct IdentityResolution {
  std::string key;                  // the profile the event applies to
  // Profiles to merge into `key` before applying the event; each one's ids
  // must then be repointed (Repoint).
  std::vector<std::string> merge_from;
  // Ids the event reveals as `key`'s that are not linked yet.
  std::vector<std::string> new_links;
};

class IdentityLinks {
 public:
  // The canonical key of `id` (kind+id): its link, or itself.
  const std::string& Canonical(const std::string& id) const {
    auto it = links_.find(id);
    return it == links_.end() ? id : it->second;
  }
  // Where `e` applies and what it links. Links are recorded at once (the
  // caller writes them with its next checkpoint: Drain).
  // REQUIRES: e has a user_id or an anonymous_id.
  void Resolve(const Event& e, IdentityResolution* out);
  // Points `ids` (and `from` itself) at `to`, after `from` was merged into it.
  void Repoint(const std::string& from, const std::vector<std::string>& ids, const std::string& to);
  // Restores a link read from the store at start-up.
  void Restore(std::string id, std::string canonical) { links_[std::move(id)] = std::move(canonical); }
  // Links changed since the last Drain (id → canonical key).
  std::vector<std::pair<std::string, std::string>> Drain();
  size_t size() const { return links_.size(); }

 private:
  void Link(const std::string& id, const std::string& key);
  std::unordered_map<std::string, std::string> links_;
  std::unordered_map<std::string, std::string> changed_;
};

}  // namespace sluice::profile
