// Private to the profile part: the byte layout of DATA/state/profiles, the
// RocksDB database the profile builder writes and the serving path reads.
//
// Column families (keys are byte strings; `kind` is one byte per identifier
// type (KindOf): 'u' userId, 'a' anonymousId, 'e' email, 'p' phone, 'x'
// external id, so id spaces never collide; linked ids are normalised as
// identity::Normalizer does):
//   profiles    kind+id          → ProfileRecord (below); the key is the
//                                  profile's canonical id (the identity
//                                  graph's: userId before external id, email,
//                                  phone, anonymousId)
//   identities  kind+id          → kind+id of the canonical profile it joins
//                                  (only ids that are not canonical themselves)
//   links       TYPE:a \0 TYPE:b  → identity::EncodeLinkRecord: one link of the
//                                  identity graph with its evidence (a < b by
//                                  Identifier::Key). Accepted/refused are
//                                  recomputed when the graph loads; removed
//                                  (unmerged) stays removed.
//   reviews     keyA \0 keyB      → ReviewRecord (below): a fuzzy match between
//                                  two profile keys (keyA < keyB) in the review
//                                  band, pending or decided
//   attributes  kind+id          → one JSON object text: `sluice attributes load`
//                                  rows (by userId) and identify traits, merged
//   segments    segment\0kind+id → ""  (membership index: who is in a segment)
//   quarantine  offset (8 bytes, big-endian) → a late event kept by the
//                                  `quarantine` late policy: its log payload
//   outbox      sequence (8 bytes, big-endian) → the JSON body of a segment
//                                  change not yet posted to the segment
//                                  webhook (segment_webhook.h)
//   default     "meta.next_offset" → fixed64: first log offset not yet applied
//               "meta.watermark"   → the stream's encoded watermark state
//               "meta.outbox_next" → fixed64: the next outbox sequence (ids
//                                     never repeat, even once the outbox drained)
//               "meta.format"      → fixed32 kProfileFormatVersion (2: the
//                                     links family and kinds e/p/x; 1, the
//                                     exact linker's, is refused)
//
// ProfileRecord, version 1:
//   fixed32 version | fixed64 last_event_us (event time of the newest event)
//   | fixed64 last_received_us | len-prefixed feature state (stream Encode)
//   | len-prefixed traits (JSON object text, "" when none)
//   | varint n + n × len-prefixed linked id (kind+id, other than the key)
//   | varint m + m × (len-prefixed segment name, fixed64 entered_at_us)
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "identity/identity.h"

namespace sluice::profile {

inline constexpr uint32_t kProfileFormatVersion = 2;
inline constexpr uint32_t kProfileRecordVersion = 1;

inline constexpr const char* kProfilesFamily = "profiles";
inline constexpr const char* kIdentitiesFamily = "identities";
inline constexpr const char* kAttributesFamily = "attributes";
inline constexpr const char* kSegmentsFamily = "segments";
inline constexpr const char* kQuarantineFamily = "quarantine";
inline constexpr const char* kLinksFamily = "links";
inline constexpr const char* kReviewsFamily = "reviews";
inline constexpr const char* kOutboxFamily = "outbox";

inline constexpr std::string_view kMetaNextOffset = "meta.next_offset";
inline constexpr std::string_view kMetaWatermark = "meta.watermark";
inline constexpr std::string_view kMetaFormat = "meta.format";
inline constexpr std::string_view kMetaOutboxNext = "meta.outbox_next";

inline constexpr char kUserKind = 'u';
inline constexpr char kAnonymousKind = 'a';

inline constexpr char kEmailKind = 'e';
inline constexpr char kPhoneKind = 'p';
inline constexpr char kExternalKind = 'x';

inline char KindOf(identity::IdType type) {
  switch (type) {
    case identity::IdType::kUserId: return kUserKind;
    case identity::IdType::kExternalId: return kExternalKind;
    case identity::IdType::kEmail: return kEmailKind;
    case identity::IdType::kPhone: return kPhoneKind;
    case identity::IdType::kAnonymousId: return kAnonymousKind;
  }
  return kAnonymousKind;
}

// The profile key (kind+id) of a graph identifier.
inline std::string ProfileKey(const identity::Identifier& id) {
  std::string k(1, KindOf(id.type));
  k.append(id.value);
  return k;
}

// Inverse of ProfileKey. Corruption for an unknown kind.
inline Result<identity::Identifier> IdentifierOfKey(std::string_view key) {
  static constexpr identity::IdType kTypes[] = {identity::IdType::kUserId, identity::IdType::kExternalId,
                                                identity::IdType::kEmail, identity::IdType::kPhone,
                                                identity::IdType::kAnonymousId};
  for (identity::IdType t : kTypes) {
    if (!key.empty() && key[0] == KindOf(t)) return identity::Identifier{t, std::string(key.substr(1))};
  }
  return Status::Corruption("profiles: key of unknown kind");
}

// Key of the links family: both ends' Identifier::Key, a NUL between, the
// smaller first. Only written and deleted, never parsed: the record holds both ends.
inline std::string LinkKey(const identity::Identifier& a, const identity::Identifier& b) {
  std::string ka = a.Key(), kb = b.Key();
  if (kb < ka) std::swap(ka, kb);
  ka.push_back('\0');
  ka += kb;
  return ka;
}

// ReviewRecord: byte ReviewState | fixed64 score (IEEE-754 bits) | the
// match's evidence as a link record between the two keys' identifiers
// (identity::EncodeLinkRecord).
enum class ReviewState : uint8_t { kPending = 0, kAccepted = 1, kRejected = 2 };

inline std::string ReviewKey(std::string_view a, std::string_view b) {
  std::string k(a < b ? a : b);
  k.push_back('\0');
  k.append(a < b ? b : a);
  return k;
}

inline Result<std::string> EncodeReviewRecord(ReviewState state, const identity::Match& m);
inline Status DecodeReviewRecord(std::string_view in, ReviewState* state, identity::Match* m);

inline std::string UserKey(std::string_view user_id) {
  std::string k(1, kUserKind);
  k.append(user_id);
  return k;
}
inline std::string AnonymousKey(std::string_view anonymous_id) {
  std::string k(1, kAnonymousKind);
  k.append(anonymous_id);
  return k;
}

struct SegmentMembership {
  std::string name;
  int64_t entered_at_us = 0;
  bool operator==(const SegmentMembership&) const = default;
};

struct ProfileRecord {
  int64_t last_event_us = 0;
  int64_t last_received_us = 0;
  std::string state;                       // the stream's encoded feature state
  std::string traits;                      // merged identify traits, JSON object text
  std::vector<std::string> linked;         // kind+id joined into this profile
  std::vector<SegmentMembership> segments;
  bool operator==(const ProfileRecord&) const = default;
};

inline void EncodeProfileRecord(const ProfileRecord& r, std::string* out) {
  PutFixed32(out, kProfileRecordVersion);
  PutFixed64(out, static_cast<uint64_t>(r.last_event_us));
  PutFixed64(out, static_cast<uint64_t>(r.last_received_us));
  PutLengthPrefixed(out, r.state);
  PutLengthPrefixed(out, r.traits);
  PutLengthPrefixedList(out, r.linked);
  PutVarint64(out, r.segments.size());
  for (const SegmentMembership& s : r.segments) {
    PutLengthPrefixed(out, s.name);
    PutFixed64(out, static_cast<uint64_t>(s.entered_at_us));
  }
}

inline Status DecodeProfileRecord(std::string_view in, ProfileRecord* r) {
  Decoder d(in);
  uint32_t version = 0;
  uint64_t last_event = 0, last_received = 0, n = 0;
  std::string_view state, traits;
  if (!d.GetFixed32(&version)) return Status::Corruption("profile record: too short");
  if (version != kProfileRecordVersion) {
    return Status::Corruption("profile record: unknown version " + std::to_string(version));
  }
  if (!d.GetFixed64(&last_event) || !d.GetFixed64(&last_received) || !d.GetLengthPrefixed(&state) ||
      !d.GetLengthPrefixed(&traits) || !d.GetVarint64(&n) || n > d.remaining()) {
    return Status::Corruption("profile record: truncated");
  }
  r->last_event_us = static_cast<int64_t>(last_event);
  r->last_received_us = static_cast<int64_t>(last_received);
  r->state.assign(state);
  r->traits.assign(traits);
  r->linked.clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view id;
    if (!d.GetLengthPrefixed(&id)) return Status::Corruption("profile record: truncated linked ids");
    r->linked.emplace_back(id);
  }
  if (!d.GetVarint64(&n) || n > d.remaining()) return Status::Corruption("profile record: truncated segments");
  r->segments.clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name;
    uint64_t at = 0;
    if (!d.GetLengthPrefixed(&name) || !d.GetFixed64(&at)) {
      return Status::Corruption("profile record: truncated segments");
    }
    r->segments.push_back({std::string(name), static_cast<int64_t>(at)});
  }
  if (!d.done()) return Status::Corruption("profile record: trailing bytes");
  return Status::Ok();
}

inline Result<std::string> EncodeReviewRecord(ReviewState state, const identity::Match& m) {
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier a, IdentifierOfKey(m.a));
  SLUICE_ASSIGN_OR_RETURN(identity::Identifier b, IdentifierOfKey(m.b));
  std::string out(1, static_cast<char>(state));
  PutFixed64(&out, std::bit_cast<uint64_t>(m.score));
  out += identity::EncodeLinkRecord({std::move(a), std::move(b), identity::LinkState::kAccepted, "", m.evidence});
  return out;
}

inline Status DecodeReviewRecord(std::string_view in, ReviewState* state, identity::Match* m) {
  Decoder d(in);
  uint8_t st = 0;
  uint64_t score = 0;
  if (!d.GetByte(&st) || st > 2 || !d.GetFixed64(&score)) return Status::Corruption("profiles: bad review record");
  Result<identity::LinkRecord> link = identity::DecodeLinkRecord(in.substr(9));
  if (!link.ok()) return Status::Corruption("profiles: review record: " + link.status().message());
  *state = static_cast<ReviewState>(st);
  m->a = ProfileKey(link->a);
  m->b = ProfileKey(link->b);
  if (m->b < m->a) std::swap(m->a, m->b);
  m->score = std::bit_cast<double>(score);
  m->decision = identity::MatchDecision::kReview;
  m->evidence = std::move(link->evidence);
  return Status::Ok();
}

// Segment index key: name, a NUL, then the profile key (names never hold NUL).
inline std::string SegmentIndexKey(std::string_view segment, std::string_view profile_key) {
  std::string k(segment);
  k.push_back('\0');
  k.append(profile_key);
  return k;
}

// A quarantine or outbox key: the 8 bytes of `n`, big-endian, so RocksDB's
// bytewise order is numeric order.
inline std::string OrderedKey(uint64_t n) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  return k;
}
// False when `key` is not 8 bytes.
inline bool DecodeOrderedKey(std::string_view key, uint64_t* n) {
  if (key.size() != 8) return false;
  *n = 0;
  for (char c : key) *n = (*n << 8) | static_cast<unsigned char>(c);
  return true;
}

}  // namespace sluice::profile
