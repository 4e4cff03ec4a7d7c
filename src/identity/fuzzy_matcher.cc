// FuzzyMatcher: blocking-key index, pair scoring, incremental and batch resolve.
//
// Blocking keys (64-bit XXH3 of a family tag and a value):
//   E  domain + the local part and each one-deletion variant of it. Two local
//      parts within one insert, delete, substitute or adjacent transposition
//      share a variant, so every such typo meets its original in some block,
//      at len+1 keys per record instead of all pairs.
//   L  the local part alone (long local parts only): a typo in the domain.
//   P  the E.164 phone number.
// A key held by more than max_block_size records is skipped.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include <xxhash.h>

#include "identity/identity.h"

namespace sluice::identity {
namespace {

// Deletion variants of local parts longer than this are not generated: such
// addresses are machine-made and a typo in them is rare; the exact key remains.
constexpr size_t kMaxLocalPartForVariants = 32;

// Score weights. Email and name carry the identity; phone, city and device
// agreeing confirm it and disagreeing (phone, city) count against it.
constexpr double kEmailWeight = 0.5;
constexpr double kNameWeight = 0.5;
constexpr double kPhoneAgreeBonus = 0.20;
constexpr double kPhoneDisagreePenalty = 0.25;
constexpr double kCityAgreeBonus = 0.05;
constexpr double kCityDisagreePenalty = 0.10;
constexpr double kDeviceAgreeBonus = 0.05;
// A name token agrees with another when Jaro-Winkler says close or when it is
// one typo away in a longer token (Jaro-Winkler of "xmith"/"smith" is 0.87).
// Otherwise the names are
// different people sharing an address (a family mailbox): never merged
// without a person looking.
constexpr double kMinTokenSimilarity = 0.9;
constexpr size_t kMaxTokenTypoEdits = 1;
constexpr size_t kMinTokenLengthForTypoEdit = 5;  // "mark"/"mary" are two names
// Addresses that differ in a way people choose rather than mistype are
// different mailboxes: local parts whose digits differ ("johnsmith84" /
// "johnsmith85", a provider made them unique), a separator more or less
// ("john.adams" / "johnadams" where dots matter), or another provider (domains
// more than one edit apart; "gamil.com" is a typo, "aol.com" is not). Their
// similarity is capped so that only agreeing phone, city or device can lift the
// pair into review.
constexpr double kConflictingEmailSimilarity = 0.4;
constexpr size_t kMaxDomainTypoEdits = 1;
// With neither email nor name close, only a shared phone can make a match.
constexpr double kMinEmailSimilarity = 0.75;

struct Record {
  std::string id;
  std::string email, local, domain;
  std::string name;
  std::vector<std::string> name_tokens;
  std::string local_digits;  // the digits of the local part, in order
  uint32_t local_separators = 0;  // '.', '_', '-' in the local part
  std::string phone, city, device;
};

// What Collect and MayReachReview read of a record, in one dense array: a
// match visits ~100 candidates, and a Record (a dozen strings) costs a cache
// miss per field read where its summary costs one. The hashes are 32-bit:
// equal hashes may be a collision, so only "differ" is taken as fact.
struct RecordSummary {
  uint32_t version = 0;  // Index entries of another version are stale
  uint32_t email = 0, digits = 0, domain = 0, phone = 0, city = 0, device = 0;
  uint16_t email_code_points = 0;  // saturated: only ever compared as a bound
  uint16_t local_separators = 0;
  uint16_t keys = 0;  // index entries of this version (one per blocking key)
  uint8_t present = 0;  // kHas* bits: the field is not empty
  static constexpr uint8_t kHasEmail = 1, kHasName = 2, kHasPhone = 4, kHasCity = 8, kHasDevice = 16;
  bool has(uint8_t bit) const { return (present & bit) != 0; }
};

// `scratch` is reused across the keys of one record.
uint64_t KeyHash(std::string* scratch, char family, std::string_view a, std::string_view b = {}) {
  scratch->assign(1, family);
  scratch->append(a);
  scratch->push_back('\x1f');
  scratch->append(b);
  return XXH3_64bits(scratch->data(), scratch->size());
}

std::vector<uint64_t> BlockingKeys(const Record& r, const MatchConfig& config) {
  std::vector<uint64_t> keys;
  std::string scratch;
  if (!r.local.empty()) {
    keys.push_back(KeyHash(&scratch, 'E', r.domain, r.local));
    if (r.local.size() <= kMaxLocalPartForVariants && r.local.size() > 1) {
      std::string variant;
      for (size_t i = 0; i < r.local.size(); ++i) {
        if (i > 0 && r.local[i] == r.local[i - 1]) continue;  // same variant as deleting i-1
        variant.assign(r.local, 0, i);
        variant.append(r.local, i + 1);
        keys.push_back(KeyHash(&scratch, 'E', r.domain, variant));
      }
    }
    if (r.local.size() >= config.min_local_part_for_domain_free_key) keys.push_back(KeyHash(&scratch, 'L', r.local));
  }
  if (!r.phone.empty()) keys.push_back(KeyHash(&scratch, 'P', r.phone));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::vector<std::string> Tokens(std::string_view name) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < name.size()) {
    size_t end = name.find(' ', start);
    if (end == std::string_view::npos) end = name.size();
    if (end > start) tokens.emplace_back(name.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

struct NameAgreement {
  double similarity = 0;  // mean Jaro-Winkler of aligned tokens
  bool every_token_agrees = false;
  // Some short token agrees only by being one edit away ("edma"/"emma", but
  // also "mark"/"mary"): enough only with a phone or device that agrees too.
  bool short_token_typo = false;
};

// Names are compared token by token ("mary smith" / "john smith" share a whole
// surname but are different people), in order and, for two tokens, swapped.
NameAgreement CompareNames(const std::vector<std::string>& a, const std::vector<std::string>& b,
                           std::string_view full_a, std::string_view full_b) {
  NameAgreement best;
  if (a.size() != b.size() || a.empty()) {
    best.similarity = JaroWinklerSimilarity(full_a, full_b);
    best.every_token_agrees = best.similarity >= kMinTokenSimilarity;
    return best;
  }
  for (bool swapped : {false, true}) {
    if (swapped && a.size() != 2) break;
    NameAgreement n;
    n.every_token_agrees = true;
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string& y = b[swapped ? a.size() - 1 - i : i];
      double jw = a[i] == y ? 1.0 : JaroWinklerSimilarity(a[i], y);
      n.similarity += jw / static_cast<double>(a.size());
      if (jw >= kMinTokenSimilarity) continue;
      if (OsaDistance(a[i], y) > kMaxTokenTypoEdits) {
        n.every_token_agrees = false;
      } else if (std::min(a[i].size(), y.size()) < kMinTokenLengthForTypoEdit) {
        n.short_token_typo = true;
      }
    }
    if (n.similarity > best.similarity) best = n;
  }
  return best;
}

double Similarity(size_t distance, size_t len_a, size_t len_b) {
  size_t longest = std::max(len_a, len_b);
  return longest == 0 ? 1.0 : 1.0 - static_cast<double>(distance) / static_cast<double>(longest);
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool AddressesConflict(const Record& a, const Record& b) {
  if (a.local_digits != b.local_digits) return true;
  // Separators count only at one provider: a typo'd gmail.com keeps the dots
  // that normalisation removed from the real one.
  if (a.domain == b.domain) return a.local_separators != b.local_separators;
  return OsaDistance(a.domain, b.domain) > kMaxDomainTypoEdits;
}

// The numbers behind a score, computed without allocating: most candidate
// pairs score below the review threshold and are dropped.
struct PairScore {
  double score = 0;
  int64_t email_distance = -1;  // -1: a side has no email
  double email_similarity = 0;
  double name_similarity = -1;  // -1: a side has no name
  bool names_disagree = false;  // different first or last names: never an auto-merge
  bool phone_agrees = false, city_agrees = false, device_agrees = false;
};

enum class Agreement { kUnknown, kAgree, kDisagree };  // kUnknown: a side lacks the field
Agreement AgreementOf(bool both_have, bool equal) {
  return !both_have ? Agreement::kUnknown : equal ? Agreement::kAgree : Agreement::kDisagree;
}
Agreement Compare(const std::string& a, const std::string& b) {
  return AgreementOf(!a.empty() && !b.empty(), a == b);
}

// `score` (the mean of the similarities) with phone, city and device added —
// or subtracted when they disagree — one after the other: the order of the
// additions shows in the last bit, and scores on a threshold (0.75 + 0.05)
// move in or out of a band with it.
double AddAgreements(double score, Agreement phone, Agreement city, bool device_agrees, PairScore* p) {
  if (phone != Agreement::kUnknown) {
    p->phone_agrees = phone == Agreement::kAgree;
    score += p->phone_agrees ? kPhoneAgreeBonus : -kPhoneDisagreePenalty;
  }
  if (city != Agreement::kUnknown) {
    p->city_agrees = city == Agreement::kAgree;
    score += p->city_agrees ? kCityAgreeBonus : -kCityDisagreePenalty;
  }
  if (device_agrees) {
    p->device_agrees = true;
    score += kDeviceAgreeBonus;
  }
  return score;
}

PairScore ScoreNumbers(const Record& a, const Record& b, const MatchConfig& config) {
  PairScore p;
  double weight = 0, sum = 0;
  bool email_unrelated = false;
  NameAgreement names;
  if (!a.email.empty() && !b.email.empty()) {
    p.email_distance = static_cast<int64_t>(OsaDistance(a.email, b.email));
    p.email_similarity = Similarity(p.email_distance, CodePoints(a.email), CodePoints(b.email));
    email_unrelated = p.email_similarity < kMinEmailSimilarity;
    if (p.email_distance > 0 && AddressesConflict(a, b)) {
      p.email_similarity = std::min(p.email_similarity, kConflictingEmailSimilarity);
    }
    weight += kEmailWeight;
    sum += kEmailWeight * p.email_similarity;
  }
  if (!a.name.empty() && !b.name.empty()) {
    names = CompareNames(a.name_tokens, b.name_tokens, a.name, b.name);
    p.name_similarity = names.similarity;
    weight += kNameWeight;
    sum += kNameWeight * p.name_similarity;
  }
  double score = AddAgreements(weight > 0 ? sum / weight : 0, Compare(a.phone, b.phone), Compare(a.city, b.city),
                               !a.device.empty() && a.device == b.device, &p);
  if (email_unrelated && !p.phone_agrees) score = 0;
  p.names_disagree = p.name_similarity >= 0 &&
                     (!names.every_token_agrees ||
                      (names.short_token_typo && !p.phone_agrees && !p.device_agrees));
  score = std::clamp(score, 0.0, 1.0);
  if (p.names_disagree) {
    score = std::min(score, std::nextafter(config.auto_merge_threshold, 0.0));
  }
  p.score = score;
  return p;
}

// Whether ScoreNumbers(a, b) can reach the review band, from the records'
// summaries: an upper bound of its score — the OSA distance is at least the
// difference in length, two addresses that conflict are capped whatever
// their distance, names count as agreeing, equal hashes as equal fields.
// Most candidates of a block fail it ("ann.lee1@…" / "ann.lee2@…" conflict),
// so their distances are never computed and their Records mostly never read
// (only two domains that may differ are compared as text). The matches are
// the same: the bound only skips pairs ScoreNumbers drops.
bool MayReachReview(const RecordSummary& x, const RecordSummary& y, const Record& a, const Record& b,
                    const MatchConfig& config) {
  using S = RecordSummary;
  double weight = 0, sum = 0;
  if (x.has(S::kHasEmail) && y.has(S::kHasEmail)) {
    double similarity = 1.0;
    if (x.email != y.email) {  // different addresses
      const size_t la = x.email_code_points, lb = y.email_code_points;
      similarity = Similarity(la > lb ? la - lb : lb - la, la, lb);
      // AddressesConflict, deciding on the hashes where they are facts.
      const bool conflict = x.digits != y.digits ||
                            (x.local_separators != y.local_separators && x.domain == y.domain &&
                             a.domain == b.domain) ||
                            (x.domain != y.domain && OsaDistance(a.domain, b.domain) > kMaxDomainTypoEdits);
      if (conflict) similarity = std::min(similarity, kConflictingEmailSimilarity);
    }
    weight += kEmailWeight;
    sum += kEmailWeight * similarity;
  }
  if (x.has(S::kHasName) && y.has(S::kHasName)) {
    weight += kNameWeight;
    sum += kNameWeight;
  }
  // The same arithmetic as ScoreNumbers on larger inputs: rounding is
  // monotonic, so the bound holds to the last bit.
  PairScore ignored;
  const double bound = AddAgreements(
      weight > 0 ? sum / weight : 0, AgreementOf(x.has(S::kHasPhone) && y.has(S::kHasPhone), x.phone == y.phone),
      AgreementOf(x.has(S::kHasCity) && y.has(S::kHasCity), x.city == y.city),
      x.has(S::kHasDevice) && y.has(S::kHasDevice) && x.device == y.device, &ignored);
  // The slack covers a name similarity summed over tokens a last bit above 1.
  return std::min(bound, 1.0) + 1e-12 >= config.review_threshold;
}

MatchDecision Decide(double score, const MatchConfig& config) {
  return score >= config.auto_merge_threshold ? MatchDecision::kAutoMerge
         : score >= config.review_threshold  ? MatchDecision::kReview
                                             : MatchDecision::kNone;
}

Match BuildMatch(const Record& x, const Record& y, const PairScore& p, const MatchConfig& config) {
  const Record& a = x.id < y.id ? x : y;
  const Record& b = x.id < y.id ? y : x;
  Match m;
  m.a = a.id;
  m.b = b.id;
  m.score = p.score;
  m.decision = Decide(p.score, config);
  LinkEvidence& e = m.evidence;
  e.rule = "fuzzy";
  e.score = p.score;
  if (p.email_distance >= 0) {
    e.distances.push_back({"email", static_cast<uint32_t>(p.email_distance), p.email_similarity});
    if (p.email_distance == 0) e.fields.push_back("email");
  }
  if (p.name_similarity >= 0) {
    e.distances.push_back({"name", static_cast<uint32_t>(OsaDistance(a.name, b.name)), p.name_similarity});
    if (a.name == b.name) e.fields.push_back("name");
  }
  if (p.phone_agrees) e.fields.push_back("phone");
  if (p.city_agrees) e.fields.push_back("city");
  if (p.device_agrees) e.fields.push_back("device");
  std::sort(e.fields.begin(), e.fields.end());
  return m;
}

RecordSummary Summarize(const Record& r, uint32_t version) {
  auto hash = [](std::string_view v) { return static_cast<uint32_t>(XXH3_64bits(v.data(), v.size())); };
  RecordSummary s;
  s.version = version;
  if (!r.email.empty()) {
    s.present |= RecordSummary::kHasEmail;
    s.email = hash(r.email);
    s.digits = hash(r.local_digits);
    s.domain = hash(r.domain);
    s.email_code_points = static_cast<uint16_t>(std::min<size_t>(CodePoints(r.email), UINT16_MAX));
    s.local_separators = static_cast<uint16_t>(std::min<uint32_t>(r.local_separators, UINT16_MAX));
  }
  if (!r.name.empty()) s.present |= RecordSummary::kHasName;
  if (!r.phone.empty()) s.present |= RecordSummary::kHasPhone, s.phone = hash(r.phone);
  if (!r.city.empty()) s.present |= RecordSummary::kHasCity, s.city = hash(r.city);
  if (!r.device.empty()) s.present |= RecordSummary::kHasDevice, s.device = hash(r.device);
  return s;
}

}  // namespace

// Open addressing from key hash to the head of a chain of (record, version)
// entries; an entry whose version is not the record's current one is stale
// (the record was replaced) and is skipped.
struct FuzzyMatcher::Index {
  struct Slot {
    uint64_t key = 0;
    uint32_t head = kNone;
  };
  struct Entry {
    uint32_t record, version, next;
  };
  // Whether `e` is its record's current version; older ones stay in the
  // chains until CompactIfMostlyStale drops them.
  bool Live(const Entry& e) const { return summaries[e.record].version == e.version; }
  static constexpr uint32_t kNone = UINT32_MAX;

  std::vector<Record> records;
  std::vector<RecordSummary> summaries;  // by record, as records
  std::unordered_map<std::string, uint32_t> by_id;
  std::vector<Slot> slots = std::vector<Slot>(1024);
  size_t used = 0;
  std::vector<Entry> entries;
  size_t stale = 0;  // entries of a version that is no longer its record's

  Slot& FindSlot(std::vector<Slot>& table, uint64_t key) {
    size_t mask = table.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      if (table[i].head == kNone || table[i].key == key) return table[i];
    }
  }
  const Slot* FindSlot(uint64_t key) const {
    size_t mask = slots.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      if (slots[i].head == kNone) return nullptr;
      if (slots[i].key == key) return &slots[i];
    }
  }
  void Insert(uint64_t key, uint32_t record, uint32_t version) {
    if ((used + 1) * 10 > slots.size() * 7) {
      std::vector<Slot> bigger(slots.size() * 2);
      for (const Slot& s : slots) {
        if (s.head != kNone) FindSlot(bigger, s.key) = s;
      }
      slots = std::move(bigger);
    }
    Slot& s = FindSlot(slots, key);
    if (s.head == kNone) {
      ++used;
      s.key = key;
    }
    entries.push_back({record, version, s.head});
    s.head = static_cast<uint32_t>(entries.size() - 1);
  }
  // Drops the stale entries: a record replaced or removed leaves its
  // entries in the chains, which Collect would walk forever after.
  void CompactIfMostlyStale() {
    if (stale * 2 <= entries.size()) return;
    std::vector<Slot> fresh(slots.size());
    std::vector<Entry> kept;
    kept.reserve(entries.size() - stale);
    used = 0;
    for (const Slot& s : slots) {
      if (s.head == kNone) continue;
      uint32_t head = kNone, last = kNone;
      for (uint32_t e = s.head; e != kNone; e = entries[e].next) {  // newest first, kept so
        const Entry& entry = entries[e];
        if (!Live(entry)) continue;
        kept.push_back({entry.record, entry.version, kNone});
        const uint32_t at = static_cast<uint32_t>(kept.size() - 1);
        (last == kNone ? head : kept[last].next) = at;
        last = at;
      }
      if (head == kNone) continue;  // an empty chain frees its slot
      FindSlot(fresh, s.key) = Slot{s.key, head};
      ++used;
    }
    slots = std::move(fresh);
    entries = std::move(kept);
    stale = 0;
  }
  // The live records of the blocks of `keys` that hold at most `limit`,
  // appended to `out`. A record's ~10 blocks are chains of entries scattered
  // over `entries`: walked one after the other, each step waits for a cache
  // miss; walked in lockstep, a step of every chain is in flight at once.
  void CollectBlocks(const std::vector<uint64_t>& keys, size_t limit, std::vector<uint32_t>* out) const {
    std::vector<uint32_t> walks;  // each chain's next entry
    for (uint64_t key : keys) {
      if (const Slot* slot = FindSlot(key)) walks.push_back(slot->head);
    }
    // Each chain's records go to a block of its own, in chain order.
    std::vector<std::vector<uint32_t>> blocks(walks.size());
    for (bool more = !walks.empty(); more;) {
      more = false;
      for (size_t i = 0; i < walks.size(); ++i) {
        if (walks[i] == kNone) continue;
        const Entry& entry = entries[walks[i]];
        if (Live(entry)) blocks[i].push_back(entry.record);
        // Past `limit` live records the block is skipped whole: stop walking it.
        walks[i] = blocks[i].size() > limit ? kNone : entry.next;
        if (walks[i] != kNone) {
          __builtin_prefetch(&entries[walks[i]]);
          more = true;
        }
      }
    }
    for (const std::vector<uint32_t>& block : blocks) {
      if (block.size() <= limit) out->insert(out->end(), block.begin(), block.end());
    }
  }
  // Live records in the chain from `head`, at most `limit` + 1 (to tell "too many").
  void Collect(uint32_t head, size_t limit, std::vector<uint32_t>* out) const {
    out->clear();
    for (uint32_t e = head; e != kNone && out->size() <= limit; e = entries[e].next) {
      const Entry& entry = entries[e];
      if (Live(entry)) out->push_back(entry.record);
    }
  }
};

FuzzyMatcher::FuzzyMatcher(MatchConfig config)
    : config_(std::move(config)), normalizer_(config_.normalize), index_(std::make_unique<Index>()) {}
FuzzyMatcher::FuzzyMatcher(FuzzyMatcher&&) noexcept = default;
FuzzyMatcher& FuzzyMatcher::operator=(FuzzyMatcher&&) noexcept = default;
FuzzyMatcher::~FuzzyMatcher() = default;

Status FuzzyMatcher::Upsert(const ProfileRecord& in) {
  if (in.id.empty()) return Status::InvalidArgument("profile record: empty id");
  Record r;
  r.id = in.id;
  if (Result<Identifier> email = normalizer_.Normalize(IdType::kEmail, in.email); email.ok()) {
    r.email = std::move(email->value);
    size_t at = r.email.find('@');
    r.local = r.email.substr(0, at);
    r.domain = r.email.substr(at + 1);
    for (char c : r.local) {
      if (c >= '0' && c <= '9') r.local_digits.push_back(c);
      r.local_separators += c == '.' || c == '_' || c == '-';
    }
  }
  if (Result<Identifier> phone = normalizer_.Normalize(IdType::kPhone, in.phone); phone.ok()) {
    r.phone = std::move(phone->value);
  }
  if (Result<std::string> name = NormalizeText(in.name); name.ok()) {
    r.name = std::move(name).value();
    r.name_tokens = Tokens(r.name);
  }
  if (Result<std::string> city = NormalizeText(in.city); city.ok()) r.city = std::move(city).value();
  if (Result<std::string> device = NormalizeText(in.device); device.ok()) r.device = std::move(device).value();
  Index& ix = *index_;
  auto [it, inserted] = ix.by_id.emplace(in.id, static_cast<uint32_t>(ix.records.size()));
  if (inserted) {
    ix.records.emplace_back();
    ix.summaries.emplace_back();
  } else {
    const Record& old = ix.records[it->second];
    if (old.email == r.email && old.name == r.name && old.phone == r.phone && old.city == r.city &&
        old.device == r.device) {
      return Status::Ok();
    }
  }
  const uint32_t rec_index = it->second;
  RecordSummary& summary = ix.summaries[rec_index];
  ix.stale += summary.keys;
  const std::vector<uint64_t> keys = BlockingKeys(r, config_);
  summary = Summarize(r, summary.version + 1);
  summary.keys = static_cast<uint16_t>(keys.size());
  for (uint64_t key : keys) ix.Insert(key, rec_index, summary.version);
  ix.records[rec_index] = std::move(r);
  ix.CompactIfMostlyStale();
  return Status::Ok();
}

Status FuzzyMatcher::Remove(std::string_view id) {
  Index& ix = *index_;
  auto it = ix.by_id.find(std::string(id));
  if (it == ix.by_id.end()) return Status::NotFound("profile " + std::string(id) + " is not indexed");
  // A new version with no entries makes every entry of the record stale. The
  // slot in `records` is not reused: ids are not recycled often enough to pay
  // for a free list.
  ix.records[it->second] = Record{};
  ix.stale += ix.summaries[it->second].keys;
  ix.summaries[it->second] = RecordSummary{.version = ix.summaries[it->second].version + 1};
  ix.by_id.erase(it);
  ix.CompactIfMostlyStale();
  return Status::Ok();
}

Result<std::vector<Match>> FuzzyMatcher::MatchOne(std::string_view id) const {
  const Index& ix = *index_;
  auto it = ix.by_id.find(std::string(id));
  if (it == ix.by_id.end()) return Status::NotFound("profile " + std::string(id) + " is not indexed");
  const Record& r = ix.records[it->second];
  std::vector<uint32_t> candidates;
  ix.CollectBlocks(BlockingKeys(r, config_), config_.max_block_size, &candidates);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (uint32_t c : candidates) __builtin_prefetch(&ix.summaries[c]);
  std::vector<Match> out;
  for (uint32_t c : candidates) {
    if (c == it->second || !MayReachReview(ix.summaries[it->second], ix.summaries[c], r, ix.records[c], config_)) {
      continue;
    }
    PairScore p = ScoreNumbers(r, ix.records[c], config_);
    if (Decide(p.score, config_) != MatchDecision::kNone) out.push_back(BuildMatch(r, ix.records[c], p, config_));
  }
  std::sort(out.begin(), out.end(), [](const Match& x, const Match& y) {
    return x.score != y.score ? x.score > y.score : std::tie(x.a, x.b) < std::tie(y.a, y.b);
  });
  return out;
}

std::vector<Match> FuzzyMatcher::ResolveAll(ResolveStats* stats, unsigned threads,
                                            const std::function<void(uint64_t, uint64_t)>& progress) const {
  const Index& ix = *index_;
  threads = std::max(1u, threads);
  ResolveStats local;
  local.records = ix.by_id.size();
  local.blocking_keys = ix.used;

  // Phase 1: candidate pairs (low << 32 | high record index) from every block.
  std::vector<std::vector<uint64_t>> pair_parts(threads);
  std::vector<uint64_t> oversized(threads, 0);
  const uint64_t total_work = ix.slots.size();
  std::atomic<uint64_t> done{0};
  auto block_worker = [&](unsigned t) {
    std::vector<uint32_t> block;
    size_t begin = ix.slots.size() * t / threads;
    size_t end = ix.slots.size() * (t + 1) / threads;
    for (size_t i = begin; i < end; ++i) {
      const Index::Slot& s = ix.slots[i];
      if (s.head == Index::kNone) continue;
      ix.Collect(s.head, config_.max_block_size, &block);
      if (block.size() > config_.max_block_size) {
        ++oversized[t];
        continue;
      }
      for (size_t x = 0; x < block.size(); ++x) {
        for (size_t y = x + 1; y < block.size(); ++y) {
          uint32_t lo = std::min(block[x], block[y]), hi = std::max(block[x], block[y]);
          if (lo != hi) pair_parts[t].push_back((uint64_t{lo} << 32) | hi);
        }
      }
    }
    done += end - begin;
  };
  {
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(block_worker, t);
    block_worker(0);
    for (std::thread& th : pool) th.join();
  }
  if (progress) progress(done.load(), total_work + 1);
  std::vector<uint64_t> pairs;
  size_t total_pairs = 0;
  for (auto& p : pair_parts) total_pairs += p.size();
  pairs.reserve(total_pairs);
  for (auto& p : pair_parts) {
    pairs.insert(pairs.end(), p.begin(), p.end());
    std::vector<uint64_t>().swap(p);
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  for (uint64_t o : oversized) local.oversized_blocks += o;
  local.candidate_pairs = pairs.size();

  // Phase 2: score each pair once.
  std::vector<std::vector<Match>> match_parts(threads);
  std::atomic<uint64_t> scored{0};
  constexpr size_t kProgressEveryPairs = 1 << 16;
  auto score_worker = [&](unsigned t) {
    size_t begin = pairs.size() * t / threads;
    size_t end = pairs.size() * (t + 1) / threads;
    for (size_t i = begin; i < end; ++i) {
      const uint32_t xi = static_cast<uint32_t>(pairs[i] >> 32), yi = static_cast<uint32_t>(pairs[i] & 0xffffffffu);
      const Record& x = ix.records[xi];
      const Record& y = ix.records[yi];
      if (MayReachReview(ix.summaries[xi], ix.summaries[yi], x, y, config_)) {
        PairScore p = ScoreNumbers(x, y, config_);
        if (Decide(p.score, config_) != MatchDecision::kNone) match_parts[t].push_back(BuildMatch(x, y, p, config_));
      }
      if ((i - begin + 1) % kProgressEveryPairs == 0) {
        uint64_t n = scored.fetch_add(kProgressEveryPairs) + kProgressEveryPairs;
        if (t == 0 && progress) progress(n, pairs.size());
      }
    }
  };
  {
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(score_worker, t);
    score_worker(0);
    for (std::thread& th : pool) th.join();
  }
  if (progress) progress(pairs.size(), pairs.size());
  std::vector<Match> out;
  for (auto& part : match_parts) {
    for (Match& m : part) {
      (m.decision == MatchDecision::kAutoMerge ? local.auto_merges : local.reviews)++;
      out.push_back(std::move(m));
    }
  }
  std::sort(out.begin(), out.end(), [](const Match& x, const Match& y) {
    return std::tie(x.a, x.b) < std::tie(y.a, y.b);
  });
  if (stats) *stats = local;
  return out;
}

Result<Match> FuzzyMatcher::Score(std::string_view a, std::string_view b) const {
  const Index& ix = *index_;
  auto ia = ix.by_id.find(std::string(a));
  auto ib = ix.by_id.find(std::string(b));
  if (ia == ix.by_id.end()) return Status::NotFound("profile " + std::string(a) + " is not indexed");
  if (ib == ix.by_id.end()) return Status::NotFound("profile " + std::string(b) + " is not indexed");
  const Record& x = ix.records[ia->second];
  const Record& y = ix.records[ib->second];
  return BuildMatch(x, y, ScoreNumbers(x, y, config_), config_);
}

size_t FuzzyMatcher::size() const { return index_->by_id.size(); }
size_t FuzzyMatcher::index_entries() const { return index_->entries.size(); }

}  // namespace sluice::identity
