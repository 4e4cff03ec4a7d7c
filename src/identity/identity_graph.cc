// IdentityGraph: union-find over interned identifiers, rebuilt per request
// component in canonical link order whenever a limit or a removal is involved.
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>

#include "core/coding.h"
#include "core/event.h"
#include "identity/identity.h"
#include "identity/identity_format.h"

namespace sluice::identity {

std::string_view IdTypeName(IdType type) {
  switch (type) {
    case IdType::kUserId: return "user_id";
    case IdType::kExternalId: return "external_id";
    case IdType::kEmail: return "email";
    case IdType::kPhone: return "phone";
    case IdType::kAnonymousId: return "anonymous_id";
  }
  return "unknown";
}

std::optional<IdType> ParseIdType(std::string_view name) {
  if (name == "user_id" || name == "userId") return IdType::kUserId;
  if (name == "external_id") return IdType::kExternalId;
  if (name == "email") return IdType::kEmail;
  if (name == "phone") return IdType::kPhone;
  if (name == "anonymous_id" || name == "anonymousId") return IdType::kAnonymousId;
  return std::nullopt;
}

std::string Identifier::Key() const {
  std::string key(IdTypeName(type));
  key.push_back(':');
  key += value;
  return key;
}

Result<Identifier> Identifier::FromKey(std::string_view key) {
  size_t colon = key.find(':');
  if (colon == std::string_view::npos) return Status::InvalidArgument("identifier: expected TYPE:VALUE");
  std::optional<IdType> type = ParseIdType(key.substr(0, colon));
  if (!type) {
    return Status::InvalidArgument("identifier: unknown type '" + std::string(key.substr(0, colon)) + "'");
  }
  return Identifier{*type, std::string(key.substr(colon + 1))};
}

std::string_view LinkStateName(LinkState state) {
  switch (state) {
    case LinkState::kAccepted: return "accepted";
    case LinkState::kRefused: return "refused";
    case LinkState::kRemoved: return "removed";
  }
  return "unknown";
}

namespace {

using NodeId = uint32_t;
using LinkId = uint32_t;
using TypeCounts = std::array<uint32_t, kIdTypeCount>;

struct Node {
  Identifier id;
  std::string key;
  std::vector<LinkId> links;
  NodeId parent;
  // Valid at roots only.
  TypeCounts counts{};
  NodeId best;
  std::vector<NodeId> members;
  uint32_t refused_touching = 0;  // refused links with an end in this profile
};

struct StoredLink {
  NodeId a, b;
  LinkState state = LinkState::kAccepted;
  std::string refusal;
  LinkEvidence evidence;
  int32_t priority = 0;
};

uint64_t PairKey(NodeId a, NodeId b) { return (uint64_t{a} << 32) | b; }

void MergeEvidence(LinkEvidence* into, int32_t* into_priority, LinkEvidence from, int32_t from_priority) {
  // Commutative, so the stored link does not depend on request order.
  if (from_priority > *into_priority || (from_priority == *into_priority && from.rule < into->rule)) {
    into->rule = from.rule;
    *into_priority = from_priority;
  }
  into->time_ms = std::min(into->time_ms, from.time_ms);
  if (from.score > into->score) {
    into->score = from.score;
    into->distances = std::move(from.distances);
  }
  std::vector<std::string> fields;
  std::set_union(into->fields.begin(), into->fields.end(), from.fields.begin(), from.fields.end(),
                 std::back_inserter(fields));
  into->fields = std::move(fields);
  std::vector<std::string> ids;
  std::set_union(into->message_ids.begin(), into->message_ids.end(), from.message_ids.begin(),
                 from.message_ids.end(), std::back_inserter(ids));
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.size() > kMaxMessageIdsPerLink) ids.resize(kMaxMessageIdsPerLink);
  into->message_ids = std::move(ids);
}

void SortEvidenceLists(LinkEvidence* e) {
  std::sort(e->fields.begin(), e->fields.end());
  e->fields.erase(std::unique(e->fields.begin(), e->fields.end()), e->fields.end());
  std::sort(e->message_ids.begin(), e->message_ids.end());
  e->message_ids.erase(std::unique(e->message_ids.begin(), e->message_ids.end()), e->message_ids.end());
  if (e->message_ids.size() > kMaxMessageIdsPerLink) e->message_ids.resize(kMaxMessageIdsPerLink);
}

bool RanksBefore(const Identifier& x, const Identifier& y) {
  return x.type != y.type ? x.type < y.type : x.value < y.value;
}

}  // namespace

struct IdentityGraph::State {
  std::vector<Node> nodes;
  // Open addressing (keys inline, one probe of a metadata group) rather than
  // std::unordered_map's chained nodes: every link request and every link
  // loaded at start (2 M for 1 M profiles) looks up both its ids.
  boost::unordered_flat_map<std::string, NodeId> by_key;
  std::vector<StoredLink> links;
  boost::unordered_flat_map<uint64_t, LinkId> link_by_pair;

  NodeId Intern(Identifier id) {
    std::string key = id.Key();
    auto it = by_key.find(key);
    if (it != by_key.end()) return it->second;
    NodeId n = static_cast<NodeId>(nodes.size());
    Node node{std::move(id), key, {}, n, {}, n, {n}, 0};
    node.counts[static_cast<size_t>(node.id.type)] = 1;
    nodes.push_back(std::move(node));
    by_key.emplace(std::move(key), n);
    return n;
  }

  std::optional<NodeId> Lookup(const Identifier& id) const {
    auto it = by_key.find(id.Key());
    if (it == by_key.end()) return std::nullopt;
    return it->second;
  }

  NodeId Find(NodeId n) const {
    while (nodes[n].parent != n) n = nodes[n].parent;
    return n;
  }

  NodeId FindCompress(NodeId n) {
    while (nodes[n].parent != n) {
      nodes[n].parent = nodes[nodes[n].parent].parent;
      n = nodes[n].parent;
    }
    return n;
  }

  // Which type would exceed its limit if roots x and y became one; nullopt if none.
  std::optional<size_t> LimitBroken(NodeId x, NodeId y, const GraphConfig& config) const {
    for (size_t t = 0; t < kIdTypeCount; ++t) {
      uint32_t limit = config.max_per_profile[t];
      if (limit != 0 && nodes[x].counts[t] + nodes[y].counts[t] > limit) return t;
    }
    return std::nullopt;
  }

  void Union(NodeId x, NodeId y) {
    if (nodes[x].members.size() < nodes[y].members.size()) std::swap(x, y);
    Node& big = nodes[x];
    Node& small = nodes[y];
    small.parent = x;
    for (size_t t = 0; t < kIdTypeCount; ++t) big.counts[t] += small.counts[t];
    big.members.insert(big.members.end(), small.members.begin(), small.members.end());
    small.members.clear();
    small.members.shrink_to_fit();
    big.refused_touching += small.refused_touching;
    if (RanksBefore(nodes[small.best].id, nodes[big.best].id)) big.best = small.best;
  }

  bool LinkOrderLess(LinkId x, LinkId y) const {
    const StoredLink& p = links[x];
    const StoredLink& q = links[y];
    if (p.priority != q.priority) return p.priority > q.priority;
    if (p.evidence.time_ms != q.evidence.time_ms) return p.evidence.time_ms < q.evidence.time_ms;
    if (nodes[p.a].key != nodes[q.a].key) return nodes[p.a].key < nodes[q.a].key;
    return nodes[p.b].key < nodes[q.b].key;
  }

  // Every node reachable from `seeds` over links that are not removed.
  std::vector<NodeId> RequestComponent(const std::vector<NodeId>& seeds) const {
    std::vector<NodeId> out;
    std::unordered_set<NodeId> seen;
    std::deque<NodeId> queue;
    for (NodeId s : seeds) {
      if (seen.insert(s).second) queue.push_back(s);
    }
    while (!queue.empty()) {
      NodeId n = queue.front();
      queue.pop_front();
      out.push_back(n);
      for (LinkId l : nodes[n].links) {
        if (links[l].state == LinkState::kRemoved) continue;
        NodeId other = links[l].a == n ? links[l].b : links[l].a;
        if (seen.insert(other).second) queue.push_back(other);
      }
    }
    return out;
  }

  // Resets `component` (closed under links) to one profile per node and
  // runs the greedy pass over its links in canonical link order.
  void Reapply(const std::vector<NodeId>& component, const GraphConfig& config) {
    std::vector<LinkId> order;
    for (NodeId n : component) {
      Node& node = nodes[n];
      node.parent = n;
      node.counts.fill(0);
      node.counts[static_cast<size_t>(node.id.type)] = 1;
      node.best = n;
      node.members.assign(1, n);
      node.refused_touching = 0;
      for (LinkId l : node.links) {
        if (links[l].a == n && links[l].state != LinkState::kRemoved) order.push_back(l);
      }
    }
    std::sort(order.begin(), order.end(), [this](LinkId x, LinkId y) { return LinkOrderLess(x, y); });
    for (LinkId l : order) Apply(l, config);
  }

  // Rebuilds the profiles of the request component of `seeds` by the greedy
  // pass in canonical link order. Returns the canonical ids (old and new) of
  // profiles whose member set changed.
  std::vector<Identifier> Rebuild(const std::vector<NodeId>& seeds, const GraphConfig& config) {
    std::vector<NodeId> component = RequestComponent(seeds);
    std::map<NodeId, std::vector<NodeId>> before;  // old canonical node → members
    for (NodeId n : component) before[nodes[Find(n)].best].push_back(n);

    Reapply(component, config);

    std::map<NodeId, std::vector<NodeId>> after;
    for (NodeId n : component) after[nodes[Find(n)].best].push_back(n);

    std::set<Identifier> changed;
    auto collect = [&](const std::map<NodeId, std::vector<NodeId>>& x,
                       const std::map<NodeId, std::vector<NodeId>>& y) {
      for (auto& [canonical, members] : x) {
        auto it = y.find(canonical);
        std::vector<NodeId> a = members;
        std::sort(a.begin(), a.end());
        if (it != y.end()) {
          std::vector<NodeId> b = it->second;
          std::sort(b.begin(), b.end());
          if (a == b) continue;
        }
        changed.insert(nodes[canonical].id);
      }
    };
    collect(before, after);
    collect(after, before);
    return {changed.begin(), changed.end()};
  }

  // One step of the greedy pass: accept the link unless it breaks a limit.
  void Apply(LinkId l, const GraphConfig& config) {
    StoredLink& link = links[l];
    NodeId ra = FindCompress(link.a);
    NodeId rb = FindCompress(link.b);
    if (ra == rb) {
      link.state = LinkState::kAccepted;
      link.refusal.clear();
      return;
    }
    if (std::optional<size_t> type = LimitBroken(ra, rb, config)) {
      link.state = LinkState::kRefused;
      link.refusal = "limit: at most " + std::to_string(config.max_per_profile[*type]) + " " +
                     std::string(IdTypeName(static_cast<IdType>(*type))) + " per profile";
      ++nodes[ra].refused_touching;
      ++nodes[rb].refused_touching;
      return;
    }
    link.state = LinkState::kAccepted;
    link.refusal.clear();
    Union(ra, rb);
  }

  // Adds a link read back from storage (state still to be recomputed by a
  // Rebuild, except kRemoved). False if the pair is already there.
  bool AddLoaded(StoredLink l, const GraphConfig& config) {
    auto prio = config.rule_priority.find(l.evidence.rule);
    l.priority = prio == config.rule_priority.end() ? 0 : prio->second;
    LinkId id = static_cast<LinkId>(links.size());
    if (!link_by_pair.emplace(PairKey(l.a, l.b), id).second) return false;
    nodes[l.a].links.push_back(id);
    nodes[l.b].links.push_back(id);
    links.push_back(std::move(l));
    return true;
  }

  void RebuildAll(const GraphConfig& config) {
    // The whole graph is its own component and nobody asks what changed:
    // no search, no before/after maps (for 1 M profiles those took seconds
    // of a server's start-up).
    std::vector<NodeId> all(nodes.size());
    for (NodeId n = 0; n < all.size(); ++n) all[n] = n;
    Reapply(all, config);
  }

  LinkRecord Record(LinkId l) const {
    const StoredLink& s = links[l];
    return LinkRecord{nodes[s.a].id, nodes[s.b].id, s.state, s.refusal, s.evidence};
  }
};

IdentityGraph::IdentityGraph(GraphConfig config)
    : config_(std::move(config)), normalizer_(config_.normalize), state_(std::make_unique<State>()) {}
IdentityGraph::IdentityGraph(IdentityGraph&&) noexcept = default;
IdentityGraph& IdentityGraph::operator=(IdentityGraph&&) noexcept = default;
IdentityGraph::~IdentityGraph() = default;

void IdentityGraph::Reject(RejectedRequest request) {
  ++rejected_total_;
  if (rejected_.size() == kMaxRejectedKept) rejected_.erase(rejected_.begin());
  rejected_.push_back(std::move(request));
}

Result<Identifier> IdentityGraph::Add(IdType type, std::string_view raw) {
  Result<Identifier> id = normalizer_.Normalize(type, raw);
  if (!id.ok()) {
    Reject({std::string(IdTypeName(type)), std::string(raw), "", "", id.status().message(), "add", 0});
    return id.status();
  }
  state_->Intern(*id);
  return id;
}

Result<LinkOutcome> IdentityGraph::Link(IdType type_a, std::string_view raw_a, IdType type_b,
                                        std::string_view raw_b, LinkEvidence evidence) {
  Result<Identifier> ia = normalizer_.Normalize(type_a, raw_a);
  Result<Identifier> ib = normalizer_.Normalize(type_b, raw_b);
  if (!ia.ok() || !ib.ok()) {
    Status why = !ia.ok() ? ia.status() : ib.status();
    Reject({std::string(IdTypeName(type_a)), std::string(raw_a), std::string(IdTypeName(type_b)),
            std::string(raw_b), why.message(), evidence.rule, evidence.time_ms});
    return why;
  }
  State& s = *state_;
  NodeId a = s.Intern(std::move(ia).value());
  NodeId b = s.Intern(std::move(ib).value());
  const NodeId request_a = a;
  LinkOutcome outcome;
  if (a == b) {
    outcome.canonical = s.nodes[s.nodes[s.Find(a)].best].id;
    outcome.a = outcome.b = s.nodes[a].id;
    return outcome;
  }
  if (s.nodes[b].key < s.nodes[a].key) std::swap(a, b);
  SortEvidenceLists(&evidence);
  auto prio = config_.rule_priority.find(evidence.rule);
  const int32_t priority = prio == config_.rule_priority.end() ? 0 : prio->second;

  auto [it, inserted] = s.link_by_pair.emplace(PairKey(a, b), static_cast<LinkId>(s.links.size()));
  LinkId l = it->second;
  bool reordered = false;  // a repeated request moved the link in canonical order
  if (inserted) {
    s.links.push_back(StoredLink{a, b, LinkState::kAccepted, {}, std::move(evidence), priority});
    s.nodes[a].links.push_back(l);
    s.nodes[b].links.push_back(l);
  } else {
    StoredLink& link = s.links[l];
    const int32_t old_priority = link.priority;
    const int64_t old_time = link.evidence.time_ms;
    const double old_score = link.evidence.score;
    const size_t old_fields = link.evidence.fields.size();
    const std::string old_rule = link.evidence.rule;
    // Request ids not stored yet: if one of them is stored after the merge,
    // the evidence changed (it keeps the smallest ids, so it may not be).
    std::vector<std::string> new_ids;
    for (const std::string& id : evidence.message_ids) {
      if (!std::binary_search(link.evidence.message_ids.begin(), link.evidence.message_ids.end(), id)) {
        new_ids.push_back(id);
      }
    }
    MergeEvidence(&link.evidence, &link.priority, std::move(evidence), priority);
    reordered = link.priority != old_priority || link.evidence.time_ms != old_time;
    outcome.link_changed = reordered || link.evidence.score != old_score || link.evidence.fields.size() != old_fields ||
                           link.evidence.rule != old_rule ||
                           std::any_of(new_ids.begin(), new_ids.end(), [&](const std::string& id) {
                             return std::binary_search(link.evidence.message_ids.begin(),
                                                       link.evidence.message_ids.end(), id);
                           });
  }
  if (inserted) outcome.link_changed = true;

  if (s.links[l].state == LinkState::kRemoved) {
    outcome.state = LinkState::kRemoved;
  } else {
    NodeId ra = s.FindCompress(a);
    NodeId rb = s.FindCompress(b);
    const bool no_refusals_nearby = s.nodes[ra].refused_touching == 0 && s.nodes[rb].refused_touching == 0;
    if (inserted && no_refusals_nearby && (ra == rb || !s.LimitBroken(ra, rb, config_))) {
      // Every link of both profiles was accepted and the union stays within the
      // limits, so the greedy pass would accept all of them in any order: the
      // rebuild can be skipped.
      if (ra != rb) {
        outcome.changed = {s.nodes[s.nodes[ra].best].id, s.nodes[s.nodes[rb].best].id};
        s.Union(ra, rb);
        NodeId root = s.Find(a);
        outcome.changed.push_back(s.nodes[s.nodes[root].best].id);
      }
    } else if (inserted || reordered) {
      outcome.changed = s.Rebuild({a, b}, config_);
    }
    outcome.state = s.links[l].state;
  }
  std::sort(outcome.changed.begin(), outcome.changed.end());
  outcome.changed.erase(std::unique(outcome.changed.begin(), outcome.changed.end()), outcome.changed.end());
  outcome.canonical = s.nodes[s.nodes[s.Find(request_a)].best].id;
  outcome.a = s.nodes[a].id;
  outcome.b = s.nodes[b].id;
  return outcome;
}

Result<Identifier> IdentityGraph::Canonical(const Identifier& id) const {
  std::optional<NodeId> n = state_->Lookup(id);
  if (!n) return Status::NotFound("identifier " + id.Key() + " is not in the identity graph");
  return state_->nodes[state_->nodes[state_->Find(*n)].best].id;
}

Result<std::vector<Identifier>> IdentityGraph::Members(const Identifier& id) const {
  std::optional<NodeId> n = state_->Lookup(id);
  if (!n) return Status::NotFound("identifier " + id.Key() + " is not in the identity graph");
  std::vector<Identifier> out;
  for (NodeId m : state_->nodes[state_->Find(*n)].members) out.push_back(state_->nodes[m].id);
  std::sort(out.begin(), out.end());
  return out;
}

Result<Explanation> IdentityGraph::Explain(const Identifier& id) const {
  const State& s = *state_;
  std::optional<NodeId> n = s.Lookup(id);
  if (!n) return Status::NotFound("identifier " + id.Key() + " is not in the identity graph");
  const Node& root = s.nodes[s.Find(*n)];
  Explanation e;
  e.id = s.nodes[*n].id;
  e.canonical = s.nodes[root.best].id;
  std::vector<LinkId> inside, outside;
  for (NodeId m : root.members) {
    e.members.push_back(s.nodes[m].id);
    for (LinkId l : s.nodes[m].links) {
      const StoredLink& link = s.links[l];
      if (link.state == LinkState::kAccepted) {
        if (link.a == m) inside.push_back(l);
      } else {
        outside.push_back(l);
      }
    }
  }
  std::sort(e.members.begin(), e.members.end());
  auto by_order = [&s](LinkId x, LinkId y) { return s.LinkOrderLess(x, y); };
  std::sort(inside.begin(), inside.end(), by_order);
  std::sort(outside.begin(), outside.end(), by_order);
  outside.erase(std::unique(outside.begin(), outside.end()), outside.end());
  for (LinkId l : inside) e.links.push_back(s.Record(l));
  for (LinkId l : outside) e.refused.push_back(s.Record(l));

  // Breadth-first over accepted links from the id to the canonical member.
  std::unordered_map<NodeId, LinkId> via;
  std::deque<NodeId> queue{*n};
  via.emplace(*n, UINT32_MAX);
  while (!queue.empty() && !via.contains(root.best)) {
    NodeId x = queue.front();
    queue.pop_front();
    for (LinkId l : s.nodes[x].links) {
      if (s.links[l].state != LinkState::kAccepted) continue;
      NodeId y = s.links[l].a == x ? s.links[l].b : s.links[l].a;
      if (via.emplace(y, l).second) queue.push_back(y);
    }
  }
  for (NodeId x = root.best; x != *n;) {
    LinkId l = via.at(x);
    e.path.push_back(s.Record(l));
    x = s.links[l].a == x ? s.links[l].b : s.links[l].a;
  }
  std::reverse(e.path.begin(), e.path.end());
  return e;
}

Result<UnmergeResult> IdentityGraph::Unmerge(const Identifier& id) {
  State& s = *state_;
  std::optional<NodeId> n = s.Lookup(id);
  if (!n) return Status::NotFound("identifier " + id.Key() + " is not in the identity graph");
  std::vector<NodeId> former = s.nodes[s.Find(*n)].members;
  UnmergeResult result;
  std::vector<NodeId> seeds = former;
  for (LinkId l : s.nodes[*n].links) {
    StoredLink& link = s.links[l];
    if (link.state == LinkState::kRemoved) continue;
    link.state = LinkState::kRemoved;
    link.refusal = "unmerged";
    ++result.links_removed;
    seeds.push_back(link.a == *n ? link.b : link.a);
  }
  (void)s.Rebuild(seeds, config_);
  std::set<Identifier> profiles;
  for (NodeId m : former) profiles.insert(s.nodes[s.nodes[s.Find(m)].best].id);
  result.profiles.assign(profiles.begin(), profiles.end());
  return result;
}

Result<UnmergeResult> IdentityGraph::Unlink(const Identifier& x, const Identifier& y) {
  State& s = *state_;
  std::optional<NodeId> a = s.Lookup(x), b = s.Lookup(y);
  if (!a || !b) return Status::NotFound("no link between " + x.Key() + " and " + y.Key());
  if (s.nodes[*b].key < s.nodes[*a].key) std::swap(a, b);
  auto it = s.link_by_pair.find(PairKey(*a, *b));
  if (it == s.link_by_pair.end() || s.links[it->second].state == LinkState::kRemoved) {
    return Status::NotFound("no link between " + x.Key() + " and " + y.Key());
  }
  std::vector<NodeId> former = s.nodes[s.Find(*a)].members;
  std::vector<NodeId> seeds = former;
  seeds.push_back(*b);
  StoredLink& link = s.links[it->second];
  link.state = LinkState::kRemoved;
  link.refusal = "unmerged";
  (void)s.Rebuild(seeds, config_);
  std::set<Identifier> profiles;
  for (NodeId m : former) profiles.insert(s.nodes[s.nodes[s.Find(m)].best].id);
  profiles.insert(s.nodes[s.nodes[s.Find(*b)].best].id);
  return UnmergeResult{{profiles.begin(), profiles.end()}, 1};
}

std::vector<LinkRecord> IdentityGraph::Links() const {
  const State& s = *state_;
  std::vector<LinkId> order(s.links.size());
  for (LinkId l = 0; l < order.size(); ++l) order[l] = l;
  std::sort(order.begin(), order.end(), [&s](LinkId x, LinkId y) { return s.LinkOrderLess(x, y); });
  std::vector<LinkRecord> out;
  out.reserve(order.size());
  for (LinkId l : order) out.push_back(s.Record(l));
  return out;
}

std::vector<std::pair<Identifier, Identifier>> IdentityGraph::CanonicalMap() const {
  const State& s = *state_;
  std::vector<std::pair<Identifier, Identifier>> out;
  out.reserve(s.nodes.size());
  for (NodeId n = 0; n < s.nodes.size(); ++n) out.emplace_back(s.nodes[n].id, s.nodes[s.nodes[s.Find(n)].best].id);
  std::sort(out.begin(), out.end());
  return out;
}

size_t IdentityGraph::identifier_count() const { return state_->nodes.size(); }

size_t IdentityGraph::profile_count() const {
  size_t roots = 0;
  for (NodeId n = 0; n < state_->nodes.size(); ++n) roots += state_->nodes[n].parent == n;
  return roots;
}

namespace {

void PutDouble(std::string* out, double v) { PutFixed64(out, std::bit_cast<uint64_t>(v)); }

bool GetDouble(Decoder* d, double* v) {
  uint64_t bits;
  if (!d->GetFixed64(&bits)) return false;
  *v = std::bit_cast<double>(bits);
  return true;
}

bool GetString(Decoder* d, std::string* s) {
  std::string_view v;
  if (!d->GetLengthPrefixed(&v)) return false;
  s->assign(v);
  return true;
}

void PutEvidence(std::string* out, const LinkEvidence& e) {
  PutLengthPrefixed(out, e.rule);
  PutLengthPrefixedList(out, e.fields);
  PutVarint64(out, e.distances.size());
  for (const FieldDistance& d : e.distances) {
    PutLengthPrefixed(out, d.field);
    PutVarint64(out, d.distance);
    PutDouble(out, d.similarity);
  }
  PutDouble(out, e.score);
  PutFixed64(out, static_cast<uint64_t>(e.time_ms));
  PutLengthPrefixedList(out, e.message_ids);
}

bool GetEvidence(Decoder* d, LinkEvidence* e) {
  uint64_t n_dist;
  if (!GetString(d, &e->rule) || !d->GetLengthPrefixedList(&e->fields) || !d->GetVarint64(&n_dist) || n_dist > d->remaining()) {
    return false;
  }
  e->distances.resize(n_dist);
  for (FieldDistance& fd : e->distances) {
    uint64_t dist;
    if (!GetString(d, &fd.field) || !d->GetVarint64(&dist) || !GetDouble(d, &fd.similarity)) return false;
    fd.distance = static_cast<uint32_t>(dist);
  }
  uint64_t time;
  if (!GetDouble(d, &e->score) || !d->GetFixed64(&time) || !d->GetLengthPrefixedList(&e->message_ids)) return false;
  e->time_ms = static_cast<int64_t>(time);
  return true;
}

}  // namespace

std::string IdentityGraph::Encode() const {
  const State& s = *state_;
  std::string out;
  PutFixed32(&out, kGraphMagic);
  out.push_back(static_cast<char>(kGraphFormatVersion));
  PutVarint64(&out, s.nodes.size());
  for (const Node& n : s.nodes) {
    out.push_back(static_cast<char>(n.id.type));
    PutLengthPrefixed(&out, n.id.value);
  }
  PutVarint64(&out, s.links.size());
  for (const StoredLink& l : s.links) {
    PutVarint64(&out, l.a);
    PutVarint64(&out, l.b);
    out.push_back(static_cast<char>(l.state));
    PutLengthPrefixed(&out, l.refusal);
    PutEvidence(&out, l.evidence);
  }
  PutVarint64(&out, rejected_total_);
  PutVarint64(&out, rejected_.size());
  for (const RejectedRequest& r : rejected_) {
    for (const std::string* f : {&r.type_a, &r.raw_a, &r.type_b, &r.raw_b, &r.reason, &r.rule}) {
      PutLengthPrefixed(&out, *f);
    }
    PutFixed64(&out, static_cast<uint64_t>(r.time_ms));
  }
  return out;
}

Result<IdentityGraph> IdentityGraph::Decode(std::string_view bytes, GraphConfig config) {
  auto corrupt = [](std::string what) { return Status::Corruption("identity graph: " + what); };
  Decoder d(bytes);
  uint32_t magic;
  uint8_t version;
  if (!d.GetFixed32(&magic) || magic != kGraphMagic) return corrupt("bad magic");
  if (!d.GetByte(&version)) return corrupt("truncated header");
  if (version != kGraphFormatVersion) {
    return Status::Corruption("identity graph: format version " + std::to_string(version) +
                              " is not supported (this build reads " +
                              std::to_string(kGraphFormatVersion) + ")");
  }
  IdentityGraph g(std::move(config));
  State& s = *g.state_;
  uint64_t count;
  if (!d.GetVarint64(&count) || count > d.remaining()) return corrupt("bad identifier count");
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t type;
    std::string value;
    if (!d.GetByte(&type) || type >= kIdTypeCount || !GetString(&d, &value)) return corrupt("bad identifier");
    NodeId n = s.Intern(Identifier{static_cast<IdType>(type), std::move(value)});
    if (n != i) return corrupt("duplicate identifier");
  }
  if (!d.GetVarint64(&count) || count > d.remaining()) return corrupt("bad link count");
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t a, b;
    uint8_t state;
    StoredLink l;
    if (!d.GetVarint64(&a) || !d.GetVarint64(&b) || a >= s.nodes.size() || b >= s.nodes.size() ||
        s.nodes[b].key <= s.nodes[a].key) {
      return corrupt("bad link ends");
    }
    l.a = static_cast<NodeId>(a);
    l.b = static_cast<NodeId>(b);
    if (!d.GetByte(&state) || state > kMaxLinkState || !GetString(&d, &l.refusal)) return corrupt("bad link state");
    l.state = static_cast<LinkState>(state);
    if (!GetEvidence(&d, &l.evidence)) return corrupt("bad link evidence");
    if (!s.AddLoaded(std::move(l), g.config_)) return corrupt("duplicate link");
  }
  if (!d.GetVarint64(&g.rejected_total_) || !d.GetVarint64(&count) || count > d.remaining() ||
      count > g.rejected_total_ || count > kMaxRejectedKept) {
    return corrupt("bad rejected count");
  }
  g.rejected_.resize(count);
  for (RejectedRequest& r : g.rejected_) {
    uint64_t time;
    for (std::string* f : {&r.type_a, &r.raw_a, &r.type_b, &r.raw_b, &r.reason, &r.rule}) {
      if (!GetString(&d, f)) return corrupt("bad rejected request");
    }
    if (!d.GetFixed64(&time)) return corrupt("bad rejected request");
    r.time_ms = static_cast<int64_t>(time);
  }
  if (!d.done()) return corrupt("trailing bytes");
  s.RebuildAll(g.config_);
  return g;
}

Result<IdentityGraph> IdentityGraph::FromLinks(std::vector<LinkRecord> links, GraphConfig config) {
  IdentityGraph g(std::move(config));
  State& s = *g.state_;
  s.by_key.reserve(2 * links.size());
  s.nodes.reserve(2 * links.size());
  s.links.reserve(links.size());
  s.link_by_pair.reserve(links.size());
  for (LinkRecord& r : links) {
    if (r.b.Key() < r.a.Key()) std::swap(r.a, r.b);
    if (r.a == r.b) return Status::Corruption("identity graph: a link from " + r.a.Key() + " to itself");
    NodeId a = s.Intern(std::move(r.a));
    NodeId b = s.Intern(std::move(r.b));
    if (!s.AddLoaded(StoredLink{a, b, r.state, std::move(r.refusal), std::move(r.evidence), 0}, g.config_)) {
      return Status::Corruption("identity graph: link " + s.nodes[a].key + " - " + s.nodes[b].key + " stored twice");
    }
  }
  s.RebuildAll(g.config_);
  return g;
}

Result<LinkRecord> IdentityGraph::GetLink(const Identifier& x, const Identifier& y) const {
  const State& s = *state_;
  std::optional<NodeId> a = s.Lookup(x), b = s.Lookup(y);
  if (a && b && s.nodes[*b].key < s.nodes[*a].key) std::swap(a, b);
  auto it = a && b ? s.link_by_pair.find(PairKey(*a, *b)) : s.link_by_pair.end();
  if (it == s.link_by_pair.end()) return Status::NotFound("no link between " + x.Key() + " and " + y.Key());
  return s.Record(it->second);
}

std::string EncodeLinkRecord(const LinkRecord& link) {
  std::string out;
  out.push_back(static_cast<char>(kLinkRecordVersion));
  for (const Identifier* id : {&link.a, &link.b}) {
    out.push_back(static_cast<char>(id->type));
    PutLengthPrefixed(&out, id->value);
  }
  out.push_back(static_cast<char>(link.state));
  PutLengthPrefixed(&out, link.refusal);
  PutEvidence(&out, link.evidence);
  return out;
}

Result<LinkRecord> DecodeLinkRecord(std::string_view bytes) {
  auto corrupt = [](std::string what) { return Status::Corruption("identity link record: " + what); };
  Decoder d(bytes);
  uint8_t version, state;
  if (!d.GetByte(&version)) return corrupt("empty");
  if (version != kLinkRecordVersion) {
    return Status::Corruption("identity link record: version " + std::to_string(version) +
                              " is not supported (this build reads " + std::to_string(kLinkRecordVersion) + ")");
  }
  LinkRecord link;
  for (Identifier* id : {&link.a, &link.b}) {
    uint8_t type;
    if (!d.GetByte(&type) || type >= kIdTypeCount || !GetString(&d, &id->value)) return corrupt("bad identifier");
    id->type = static_cast<IdType>(type);
  }
  if (!d.GetByte(&state) || state > kMaxLinkState || !GetString(&d, &link.refusal)) return corrupt("bad state");
  link.state = static_cast<LinkState>(state);
  if (!GetEvidence(&d, &link.evidence)) return corrupt("bad evidence");
  if (!d.done()) return corrupt("trailing bytes");
  return link;
}

namespace {

void AppendIdentifier(std::string* out, const Identifier& id) { AppendJsonString(out, id.Key()); }

void AppendLink(std::string* out, const LinkRecord& l, std::string_view state) {
  out->append("{\"a\":");
  AppendIdentifier(out, l.a);
  out->append(",\"b\":");
  AppendIdentifier(out, l.b);
  out->append(",\"state\":");
  AppendJsonString(out, state.empty() ? LinkStateName(l.state) : state);
  if (!l.refusal.empty()) {
    out->append(",\"refusal\":");
    AppendJsonString(out, l.refusal);
  }
  out->append(",\"rule\":");
  AppendJsonString(out, l.evidence.rule);
  out->append(",\"fields\":[");
  for (size_t i = 0; i < l.evidence.fields.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(out, l.evidence.fields[i]);
  }
  out->append("],\"distances\":[");
  for (size_t i = 0; i < l.evidence.distances.size(); ++i) {
    const FieldDistance& d = l.evidence.distances[i];
    if (i) out->push_back(',');
    out->append("{\"field\":");
    AppendJsonString(out, d.field);
    char buf[64];
    std::snprintf(buf, sizeof buf, ",\"distance\":%u,\"similarity\":%.4f}", d.distance, d.similarity);
    out->append(buf);
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "],\"score\":%.4f,\"time_ms\":%lld,\"message_ids\":[", l.evidence.score,
                static_cast<long long>(l.evidence.time_ms));
  out->append(buf);
  for (size_t i = 0; i < l.evidence.message_ids.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(out, l.evidence.message_ids[i]);
  }
  out->append("]}");
}

void AppendLinks(std::string* out, std::string_view name, const std::vector<LinkRecord>& links) {
  out->append(",\"");
  out->append(name);
  out->append("\":[");
  for (size_t i = 0; i < links.size(); ++i) {
    if (i) out->push_back(',');
    AppendLink(out, links[i], {});
  }
  out->push_back(']');
}

}  // namespace

std::string LinkJson(const LinkRecord& link, std::string_view state) {
  std::string out;
  AppendLink(&out, link, state);
  return out;
}

std::string ExplanationJson(const Explanation& e) {
  std::string out = "{\"id\":";
  AppendIdentifier(&out, e.id);
  out.append(",\"canonical\":");
  AppendIdentifier(&out, e.canonical);
  out.append(",\"members\":[");
  for (size_t i = 0; i < e.members.size(); ++i) {
    if (i) out.push_back(',');
    AppendIdentifier(&out, e.members[i]);
  }
  out.push_back(']');
  AppendLinks(&out, "links", e.links);
  AppendLinks(&out, "refused", e.refused);
  AppendLinks(&out, "path", e.path);
  out.push_back('}');
  return out;
}

}  // namespace sluice::identity
