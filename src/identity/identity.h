// identity: which identifiers belong to one person, and why.
//
// Owns
//  - normalisation of identifier values (case, whitespace, Unicode NFKC, Gmail
//    dots and +tags, phone numbers to E.164) and the blocked-value list;
//  - the identity graph: typed identifiers (userId, anonymousId, email, phone,
//    external ids) joined by links into profiles, with per-type limits, link
//    priorities, a record of refused links, the evidence of every link,
//    explain, unmerge, and a versioned binary encoding (identity_format.h);
//  - fuzzy matching of profile records whose identifiers disagree: blocking
//    keys, bit-parallel Levenshtein / OSA-Damerau distances, Jaro-Winkler, a
//    score with two thresholds, and the review queue for the band between them.
//
// Invariants
//  - The graph is a function of the SET of link requests: the same links in any
//    order give the same profiles, the same canonical ids and the same refusals.
//    Accepted links are those a greedy pass takes in canonical link order
//    (priority desc, event time asc, endpoint keys asc) without breaking a
//    per-type limit; the canonical id of a profile is its highest-ranked member
//    (type rank, then value), never "whoever came first".
//  - Unmerge removes links and rebuilds the affected profiles from the links
//    that remain; a removed link is remembered and refused if requested again.
//  - Blocked or malformed values never enter the graph; each refusal is recorded.
//  - Fuzzy matching never compares all pairs: candidates share a blocking key and
//    blocks larger than MatchConfig::max_block_size are skipped (and counted).
//
// Threading: every class here is a value with no internal locking: one writer,
// or many readers with no writer. Free functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::identity {

// ---------------------------------------------------------------- identifiers

// Declaration order is the rank used to choose a profile's canonical id.
enum class IdType : uint8_t { kUserId = 0, kExternalId, kEmail, kPhone, kAnonymousId };
inline constexpr size_t kIdTypeCount = 5;

// "user_id", "external_id", "email", "phone", "anonymous_id".
std::string_view IdTypeName(IdType type);
// Inverse of IdTypeName; also accepts "userId" and "anonymousId".
std::optional<IdType> ParseIdType(std::string_view name);

// A normalised, typed identifier. External ids carry their namespace in the
// value ("crm:42"), so two systems' ids never collide.
struct Identifier {
  IdType type = IdType::kAnonymousId;
  std::string value;

  // "email:ann@example.com": the identifier's unique key, the unit of explain output.
  std::string Key() const;
  // Inverse of Key(). InvalidArgument for an unknown type or a missing ':'.
  static Result<Identifier> FromKey(std::string_view key);
  friend bool operator==(const Identifier&, const Identifier&) = default;
  friend auto operator<=>(const Identifier&, const Identifier&) = default;
};

// ---------------------------------------------------------------- normalisation

struct PhoneConfig {
  // Calling code (digits, no '+') given to national numbers; empty: a number
  // without '+' or the international prefix is refused.
  std::string default_country_code;
  // Dialled before a country code from the default country ("00" in most of the
  // world, "011" in the NANP). A leading '+' is always international.
  std::vector<std::string> international_prefixes = {"00", "011"};
};

struct NormalizeConfig {
  PhoneConfig phone;
  // Domains whose mailbox ignores dots in the local part.
  std::vector<std::string> dotless_email_domains = {"gmail.com", "googlemail.com"};
  // Domains where local+tag reaches local (sub-addressing); the tag is dropped.
  std::vector<std::string> plus_tag_email_domains = {
      "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
      "icloud.com", "me.com", "fastmail.com", "protonmail.com", "proton.me", "yahoo.com"};
  // Values (compared after normalisation of their type) that never identify a
  // person: placeholders SDKs and forms send. Extend per deployment.
  std::vector<std::string> blocked_values = {
      "", "null", "undefined", "none", "nil", "nan", "n/a", "0", "-1", "unknown",
      "anonymous", "test@test.com", "test@example.com", "noemail@noemail.com"};
};

// NFKC, Unicode case folding, whitespace trimmed and inner runs collapsed to one
// ASCII space; control characters dropped. InvalidArgument for invalid UTF-8.
Result<std::string> NormalizeText(std::string_view raw);

// NormalizeText, then: exactly one '@', a non-empty local part and a domain with
// a dot; googlemail.com → gmail.com; dots and +tags dropped per the config.
Result<std::string> NormalizeEmail(std::string_view raw, const NormalizeConfig& config);

// To E.164 "+<country code><number>": formatting ( ) - . / and spaces dropped,
// "+" or an international prefix starts the country code, a national number
// loses its trunk prefix and gains the default country code, "(0)" after the
// country code ("+44 (0)20 …", "0044 (0)20 …") is dropped; 7 to 15 digits in
// all (ITU-T E.164). InvalidArgument names the problem (letters, too short or
// long, no default country code). Per-country number plans are not checked.
Result<std::string> NormalizePhone(std::string_view raw, const PhoneConfig& config);

// Normalises `raw` for `type` and refuses blocked values.
// Errors: InvalidArgument("email: ..."), and FailedPrecondition("blocked value ...")
// for a value on the blocked list.
class Normalizer {
 public:
  explicit Normalizer(NormalizeConfig config = {});
  Result<Identifier> Normalize(IdType type, std::string_view raw) const;
  const NormalizeConfig& config() const { return config_; }

 private:
  NormalizeConfig config_;
  std::unordered_set<std::string> blocked_;  // NormalizeText of each blocked value
};

// ---------------------------------------------------------------- distances
//
// All distances count Unicode code points of UTF-8 input (a byte that is not
// valid UTF-8 counts as one unit of its own). Both inputs are any length; the
// kernels are Myers/Hyyrö bit-parallel, one 64-bit word per 64 code points of
// the first string.

size_t LevenshteinDistance(std::string_view a, std::string_view b);
// Optimal string alignment: Levenshtein plus transposition of adjacent units.
size_t OsaDistance(std::string_view a, std::string_view b);
// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4).
double JaroWinklerSimilarity(std::string_view a, std::string_view b);

// ---------------------------------------------------------------- evidence

struct FieldDistance {
  std::string field;        // "email", "name"
  uint32_t distance = 0;    // edit distance (OSA) for strings, 0 for exact fields
  double similarity = 0;    // in [0, 1]
};

// Why two identifiers were linked. Evidence of repeated requests for the same
// link is merged: earliest time, union of message ids (sorted, at most
// kMaxMessageIdsPerLink), the highest score.
struct LinkEvidence {
  std::string rule;                     // "identify", "event", "alias", "trait:email", "fuzzy", "review"
  std::vector<std::string> fields;      // fields that agreed
  std::vector<FieldDistance> distances; // per compared field, fuzzy links
  double score = 1.0;                   // 1 for exact rules
  int64_t time_ms = 0;                  // event time of the earliest request, ms since epoch
  std::vector<std::string> message_ids; // the events that asked for it
};
inline constexpr size_t kMaxMessageIdsPerLink = 16;

// ---------------------------------------------------------------- graph

struct GraphConfig {
  NormalizeConfig normalize;
  // Most identifiers of a type in one profile; 0 = unlimited. Indexed by IdType.
  std::array<uint32_t, kIdTypeCount> max_per_profile = {1, 0, 5, 5, 100};
  // Which link wins when a limit would be broken: higher first. Unknown rules 0.
  std::map<std::string, int32_t, std::less<>> rule_priority = {
      {"identify", 100}, {"alias", 90}, {"event", 80}, {"trait:email", 50}, {"trait:phone", 40},
      {"trait:external_id", 60}, {"review", 30}, {"fuzzy", 20}};
};

enum class LinkState : uint8_t {
  kAccepted = 0,  // part of a profile
  kRefused = 1,   // would break a per-type limit given higher-ranked links
  kRemoved = 2,   // removed by unmerge; requests for it are refused
};
std::string_view LinkStateName(LinkState state);

struct LinkRecord {
  Identifier a, b;  // a.Key() < b.Key()
  LinkState state = LinkState::kAccepted;
  std::string refusal;  // why, for kRefused / kRemoved: "limit: user_id 1"
  LinkEvidence evidence;
};

// A request that never became a link: a malformed or blocked value.
struct RejectedRequest {
  std::string type_a, raw_a, type_b, raw_b;
  std::string reason;
  std::string rule;
  int64_t time_ms = 0;
};

inline constexpr size_t kMaxRejectedKept = 1000;

struct LinkOutcome {
  LinkState state = LinkState::kAccepted;
  Identifier canonical;  // of `a`'s profile after the request
  // Canonical ids whose member set changed (the profile layer re-keys or
  // recomputes those), sorted. Empty when nothing changed.
  std::vector<Identifier> changed;
  Identifier a, b;  // the link's ends, normalised, a.Key() < b.Key() (a == b: nothing to link)
  // The stored link is new or its evidence changed: a store keeping one
  // record per link (EncodeLinkRecord) rewrites it. States recomputed by a
  // rebuild are not counted here (they are recomputed on load too).
  bool link_changed = false;
};

struct Explanation {
  Identifier id;
  Identifier canonical;
  std::vector<Identifier> members;  // sorted
  std::vector<LinkRecord> links;          // accepted links inside the profile
  std::vector<LinkRecord> refused;        // refused or removed links touching a member
  std::vector<LinkRecord> path;           // accepted links from `id` to `canonical`
};
// One JSON object: {"id":…,"canonical":…,"members":[…],"links":[…],"refused":[…],"path":[…]}.
std::string ExplanationJson(const Explanation& explanation);
// One link as a JSON object, as ExplanationJson writes each; a non-empty
// `state` replaces the link's own state name (a review item is "pending").
std::string LinkJson(const LinkRecord& link, std::string_view state = {});

struct UnmergeResult {
  // Canonical ids of every profile that holds a former member, sorted: the
  // profile layer recomputes each from the log.
  std::vector<Identifier> profiles;
  size_t links_removed = 0;
};

class IdentityGraph {
 public:
  explicit IdentityGraph(GraphConfig config = {});
  IdentityGraph(IdentityGraph&&) noexcept;
  IdentityGraph& operator=(IdentityGraph&&) noexcept;
  ~IdentityGraph();

  // Adds `raw` as an identifier on its own (a profile of one) if new.
  // Errors as Normalizer::Normalize; the rejection is recorded.
  Result<Identifier> Add(IdType type, std::string_view raw);

  // Asks for a and b to be one person. Normalises both; a blocked or malformed
  // value is recorded in rejected() and returned as its error. Otherwise the
  // link is stored (evidence merged with an earlier request for the same pair)
  // and the profiles involved are recomputed; the outcome says whether the link
  // is accepted or refused (limit, removed) — a refusal is not an error.
  Result<LinkOutcome> Link(IdType type_a, std::string_view raw_a,
                           IdType type_b, std::string_view raw_b, LinkEvidence evidence);

  // The canonical id of the profile holding `id`. NotFound for an unknown id.
  Result<Identifier> Canonical(const Identifier& id) const;
  // Members of the profile holding `id` (any member, canonical or not), sorted.
  Result<std::vector<Identifier>> Members(const Identifier& id) const;
  Result<Explanation> Explain(const Identifier& id) const;

  // Detaches `id` from its profile: removes each accepted link touching it and
  // rebuilds the profiles from the links that remain. NotFound if unknown.
  Result<UnmergeResult> Unmerge(const Identifier& id);
  // Removes the one link between a and b. NotFound if there is no such link.
  Result<UnmergeResult> Unlink(const Identifier& a, const Identifier& b);

  // Every identifier with its profile's canonical id, sorted by identifier:
  // the rows of the warehouse's identity_map (id → canonical id).
  std::vector<std::pair<Identifier, Identifier>> CanonicalMap() const;
  // Every stored link (accepted, refused, removed), in canonical link order.
  std::vector<LinkRecord> Links() const;
  // The most recent rejected requests (at most kMaxRejectedKept; a placeholder
  // id sent by every event must not grow the graph), oldest first, and how many
  // there were in all.
  const std::vector<RejectedRequest>& rejected() const { return rejected_; }
  uint64_t rejected_total() const { return rejected_total_; }
  size_t identifier_count() const;
  size_t profile_count() const;
  const Normalizer& normalizer() const { return normalizer_; }

  // Versioned binary layout (identity_format.h): identifiers, links with state
  // and evidence, rejected requests. Decode rebuilds the profiles from the links
  // with `config`, so a changed limit applies on load.
  std::string Encode() const;
  static Result<IdentityGraph> Decode(std::string_view bytes, GraphConfig config = {});

  // The graph of stored links (one record each, as Links() or GetLink gave
  // them; any order): accepted/refused are recomputed under `config`, removed
  // stays removed. This is how a store keeping one record per link (written as
  // links change, EncodeLinkRecord) loads, where Encode would rewrite it all.
  // Rejected requests are not part of it. Corruption for a pair given twice.
  static Result<IdentityGraph> FromLinks(std::vector<LinkRecord> links, GraphConfig config = {});
  // The stored link between two normalised identifiers, any state. NotFound if none.
  Result<LinkRecord> GetLink(const Identifier& a, const Identifier& b) const;

 private:
  struct State;
  GraphConfig config_;
  Normalizer normalizer_;
  std::unique_ptr<State> state_;
  void Reject(RejectedRequest request);
  std::vector<RejectedRequest> rejected_;
  uint64_t rejected_total_ = 0;
};

// One link on its own (identity_format.h), for stores that write links as they
// change; DecodeLinkRecord: Corruption for bytes it cannot read.
std::string EncodeLinkRecord(const LinkRecord& link);
Result<LinkRecord> DecodeLinkRecord(std::string_view bytes);

// ---------------------------------------------------------------- fuzzy matching

// The attributes of one profile that fuzzy matching compares. Values are raw;
// the matcher normalises them. Empty means unknown.
struct ProfileRecord {
  std::string id;  // the profile's key (a canonical id's value)
  std::string email, name, phone, city, device;
};

struct MatchConfig {
  NormalizeConfig normalize;
  double auto_merge_threshold = 0.90;  // score >= this: merge without review
  double review_threshold = 0.80;      // score in [review, auto): review queue
  // A blocking key shared by more records than this says nothing about any
  // pair of them (a family mailbox provider, a shared phone); skipped, counted.
  uint32_t max_block_size = 64;
  // Local parts shorter than this get no domain-free blocking key ("info").
  uint32_t min_local_part_for_domain_free_key = 6;
};

enum class MatchDecision : uint8_t { kNone = 0, kReview, kAutoMerge };

struct Match {
  std::string a, b;  // record ids, a < b
  double score = 0;
  MatchDecision decision = MatchDecision::kNone;
  LinkEvidence evidence;  // rule "fuzzy", fields that agreed, distances, score
};

struct ResolveStats {
  uint64_t records = 0;
  uint64_t blocking_keys = 0;
  uint64_t oversized_blocks = 0;  // skipped, see MatchConfig::max_block_size
  uint64_t candidate_pairs = 0;   // distinct pairs scored
  uint64_t auto_merges = 0;
  uint64_t reviews = 0;
};

// Index of profile records for fuzzy matching.
//
// Score of a pair, in [0, 1]: the mean of the email similarity (1 − OSA
// distance / length) and the name similarity (Jaro-Winkler per name token),
// then phone agreeing +0.20 / disagreeing −0.25, city +0.05 / −0.10, device
// agreeing +0.05. Addresses that differ the way people choose rather than
// mistype (other digits, a separator more or less at one provider, another
// provider) count as similarity 0.4 at most; unrelated addresses (< 0.75) score
// 0 unless the phone agrees. Names with a token that is neither close nor one
// typo away never reach the auto-merge threshold (a family mailbox), nor do
// short-token typos ("mark"/"mary") without an agreeing phone or device.
class FuzzyMatcher {
 public:
  explicit FuzzyMatcher(MatchConfig config = {});
  FuzzyMatcher(FuzzyMatcher&&) noexcept;
  FuzzyMatcher& operator=(FuzzyMatcher&&) noexcept;
  ~FuzzyMatcher();

  // Adds or replaces the record with this id. InvalidArgument for an empty id.
  // A malformed email or phone is kept out of matching (treated as unknown).
  // The same record again (a profile's repeated identify calls) changes
  // nothing, so the index does not grow with them.
  Status Upsert(const ProfileRecord& record);

  // Drops the record (a profile merged into another, or deleted): it is no
  // longer a candidate. NotFound for an unknown id.
  Status Remove(std::string_view id);

  // Incremental: the matches (score >= review threshold) of the stored record
  // `id` against the index, best first. NotFound for an unknown id.
  Result<std::vector<Match>> MatchOne(std::string_view id) const;

  // Batch: every candidate pair from the blocks, scored once, matches >= the
  // review threshold, ordered by (a, b). `progress(done, total)`, if set, is
  // called now and then from the calling thread: first once when blocking is
  // done, then with candidate pairs scored. Uses up to `threads` threads.
  std::vector<Match> ResolveAll(ResolveStats* stats, unsigned threads = 1,
                                const std::function<void(uint64_t, uint64_t)>& progress = {}) const;

  // Score of two records as the matcher sees them (both must be stored).
  Result<Match> Score(std::string_view a, std::string_view b) const;

  size_t size() const;
  // Entries in the blocking index, stale ones (of replaced or removed
  // records) included: compacted once they outnumber the live ones.
  size_t index_entries() const;
  const MatchConfig& config() const { return config_; }

 private:
  struct Index;
  MatchConfig config_;
  Normalizer normalizer_;
  std::unique_ptr<Index> index_;
};

// Matches between the thresholds, waiting for a person. Accept returns the
// evidence to link with (rule "review"); Reject remembers the pair so later
// resolves do not queue it again.
class ReviewQueue {
 public:
  // Queues `match` unless the pair is pending or was decided. True if queued.
  bool Offer(const Match& match);
  // Pending items, best score first.
  std::vector<Match> List() const;
  // NotFound if the pair is not pending.
  Result<LinkEvidence> Accept(std::string_view a, std::string_view b, int64_t now_ms);
  Status Reject(std::string_view a, std::string_view b);
  size_t pending() const { return pending_.size(); }
  bool WasRejected(std::string_view a, std::string_view b) const;

 private:
  static std::pair<std::string, std::string> PairKey(std::string_view a, std::string_view b);
  std::map<std::pair<std::string, std::string>, Match> pending_;
  std::set<std::pair<std::string, std::string>> accepted_, rejected_;
};

}  // namespace sluice::identity
