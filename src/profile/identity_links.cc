#include "profile/identity_links.h"

#include "profile/profile_format.h"

namespace sluice::profile {

void IdentityLinks::Link(const std::string& id, const std::string& key) {
  if (id == key) {
    // A canonical id is its own profile: no link (an old one is dropped).
    if (links_.erase(id)) changed_[id] = key;
    return;
  }
  links_[id] = key;
  changed_[id] = key;
}

void IdentityLinks::Resolve(const Event& e, IdentityResolution* out) {
  out->merge_from.clear();
  out->new_links.clear();
  if (e.user_id.empty()) {
    out->key = Canonical(AnonymousKey(e.anonymous_id));
    return;
  }
  const std::string user = UserKey(e.user_id);
  out->key = Canonical(user);
  auto absorb = [&](const std::string& id) {
    const std::string& canonical = Canonical(id);
    if (canonical == out->key) return;
    if (canonical[0] == kUserKind && id[0] == kAnonymousKind) return;  // already another user's device
    out->merge_from.push_back(canonical);
    if (canonical != id) return;  // Repoint links it with the merged profile's ids
    out->new_links.push_back(id);
    Link(id, out->key);
  };
  if (!e.anonymous_id.empty()) absorb(AnonymousKey(e.anonymous_id));
  if (e.type == EventType::kAlias && !e.previous_id.empty()) {
    absorb(UserKey(e.previous_id));
    absorb(AnonymousKey(e.previous_id));
  }
}

void IdentityLinks::Repoint(const std::string& from, const std::vector<std::string>& ids, const std::string& to) {
  Link(from, to);
  for (const std::string& id : ids) Link(id, to);
}

std::vector<std::pair<std::string, std::string>> IdentityLinks::Drain() {
  std::vector<std::pair<std::string, std::string>> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

}  // namespace sluice::profile
