// Delta Lake transaction log: the actions Sluice writes (protocol, metaData,
// add, remove, txn, commitInfo), their JSON encoding, table snapshots by log
// replay, and atomic commits.
//
// What it owns: DATA/lake/<table>/_delta_log/NNNNNNNNNNNNNNNNNNNN.json.
// Field names and types follow the Delta protocol (PROTOCOL.md, reader 1 /
// writer 2): partition values are strings, `stats` is a JSON *string* with
// numRecords / minValues / maxValues / nullCount, times are epoch
// milliseconds.
//
// Invariants:
// - A commit file appears whole or not at all: it is written to a temp file,
//   fsync'd, then hard-linked to its version name (link fails if the name
//   exists, so two writers can never both win a version), and the directory
//   is fsync'd. A loser gets AlreadyExists and retries at a later version.
// - Versions are dense from 0; a snapshot at version V is the replay of
//   commits 0..V (adds minus later removes, last txn per appId).
//
// Threading: DeltaTable is a value holding a path; concurrent readers are
// safe, concurrent committers are serialised by the link.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::lake {

using PartitionValues = std::map<std::string, std::string>;

struct DeltaProtocol {
  int min_reader_version = 1;
  int min_writer_version = 2;
  bool operator==(const DeltaProtocol&) const = default;
};

struct DeltaMetadata {
  std::string id;                          // table UUID
  std::string schema_string;               // Spark struct type as JSON text
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> configuration;
  int64_t created_time_ms = 0;
  bool operator==(const DeltaMetadata&) const = default;
};

struct DeltaAdd {
  std::string path;                        // relative to the table root, URI-encoded
  PartitionValues partition_values;
  int64_t size = 0;
  int64_t modification_time_ms = 0;
  bool data_change = true;
  std::string stats;                       // JSON text; empty: none
  bool operator==(const DeltaAdd&) const = default;
};

struct DeltaRemove {
  std::string path;
  int64_t deletion_timestamp_ms = 0;
  bool data_change = false;
  PartitionValues partition_values;
  int64_t size = 0;
  bool operator==(const DeltaRemove&) const = default;
};

struct DeltaTxn {
  std::string app_id;
  int64_t version = 0;
  int64_t last_updated_ms = 0;
  bool operator==(const DeltaTxn&) const = default;
};

struct DeltaCommitInfo {
  int64_t timestamp_ms = 0;
  std::string operation;                   // "CREATE TABLE", "WRITE", "OPTIMIZE"
  std::map<std::string, std::string> operation_parameters;  // values are strings, as Delta writes them
  std::map<std::string, std::string> operation_metrics;
  bool is_blind_append = false;
  int64_t read_version = -1;               // -1: not written
  std::string engine_info;
  bool operator==(const DeltaCommitInfo&) const = default;
};

// The actions of one version, in the order they are written.
struct DeltaCommit {
  std::optional<DeltaCommitInfo> commit_info;
  std::optional<DeltaProtocol> protocol;
  std::optional<DeltaMetadata> metadata;
  std::vector<DeltaTxn> txns;
  std::vector<DeltaRemove> removes;
  std::vector<DeltaAdd> adds;
  bool operator==(const DeltaCommit&) const = default;
};

// One JSON object per line, newline-terminated.
std::string EncodeDeltaCommit(const DeltaCommit& commit);
// Reads a commit file's text. Unknown action kinds (cdc, domainMetadata, …)
// are ignored, as the protocol allows a reader that does not use them to.
// Corruption on malformed JSON or a known action missing a required field.
Result<DeltaCommit> DecodeDeltaCommit(std::string_view text);

// "00000000000000000042.json"
std::string DeltaCommitFileName(int64_t version);

struct DeltaSnapshot {
  int64_t version = -1;                    // -1: empty table (no commits)
  DeltaProtocol protocol;
  DeltaMetadata metadata;
  std::map<std::string, DeltaAdd> files;   // live data files by path
  std::map<std::string, int64_t> txn_versions;  // appId → last txn version
  int64_t Rows() const;                    // sum of stats.numRecords
  int64_t Bytes() const;
  // Applies one more commit (the next version) to this snapshot.
  void Apply(int64_t commit_version, const DeltaCommit& commit);
};

class DeltaTable {
 public:
  explicit DeltaTable(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string log_dir() const { return root_ + "/_delta_log"; }

  // Committed versions in order (empty: no table yet). Ignores temp files.
  Result<std::vector<int64_t>> Versions() const;
  Result<int64_t> LatestVersion() const;   // -1 when there is no commit
  Result<DeltaCommit> ReadCommit(int64_t version) const;
  // The table as of `version` (default: latest). NotFound for a version
  // that was never committed.
  Result<DeltaSnapshot> Snapshot(std::optional<int64_t> version = std::nullopt) const;

  // Writes `commit` as exactly `version`. AlreadyExists when that version
  // exists (another writer won); IOError on a file-system failure.
  Status TryCommit(int64_t version, const DeltaCommit& commit) const;
  // TryCommit's two steps: write + fsync a temp file in _delta_log (readers
  // ignore it), then link it to the version's name and remove the temp.
  Result<std::string> WriteTempCommit(const DeltaCommit& commit) const;
  Status PublishCommit(const std::string& temp_path, int64_t version) const;
  // Removes temp commit files left by a crash between the two steps.
  Status RemoveTempCommits() const;

  // Every path any commit ever added (live or removed): data files outside
  // this set were never committed.
  Result<std::vector<std::string>> EverAddedPaths() const;

 private:
  std::string root_;
};

// A fresh random UUID (version 4) in its canonical text form.
std::string NewUuid();
// Now, in epoch milliseconds.
int64_t NowMillis();

}  // namespace sluice::lake
