// LakeWriter: log records staged in memory per table → COPY from a DuckDB
// table function that decodes them in parallel → zstd Parquet partitioned by
// dt/hour → files moved into the table → Delta commit with the txn offset →
// log consumer offset.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <map>
#include <mutex>
#include <simdjson.h>

#include "core/data_dir.h"
#include "core/event.h"
#include "core/time.h"
#include "lake/embedded_duckdb.h"
#include "lake/lake.h"
#include "lake/lake_files.h"
#include "lineage/lineage.h"

namespace sluice::lake {

namespace fs = std::filesystem;

namespace {

// Column indexes in LakeColumns() order; the scan adds dt, hour after them.
enum Col : idx_t {
  kMessageId, kType, kEvent, kUserId, kAnonymousId, kTimestamp, kOriginalTimestamp, kSentAt, kReceivedAt,
  kProperties, kTraits, kContext, kSource, kLogOffset, kName, kGroupId, kPreviousId, kIntegrations, kExtra,
  kErrors, kRaw,  // quarantine only
};

constexpr int64_t kMicrosPerHour = 3'600'000'000;

std::string ErrorsJson(const Event& e) {
  std::string out;
  AppendViolationsJson(&out, e.violations);
  return out;
}

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t HourStart(UnixMicros t) { return t - ((t % kMicrosPerHour) + kMicrosPerHour) % kMicrosPerHour; }

// Parquet strings must be UTF-8. Only a quarantined event can carry invalid
// bytes (a lone surrogate decoded from an escape); they become U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  size_t i = 0;
  while (i < v.size()) {
    size_t len = 1;
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c >= 0xF0) len = 4;
    else if (c >= 0xE0) len = 3;
    else if (c >= 0xC0) len = 2;
    if (i + len <= v.size() && simdjson::validate_utf8(v.data() + i, len)) {
      out.append(v.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

duckdb_logical_type DuckTypeOf(const LakeColumn& c) {
  std::string_view t = c.delta_type;
  return duckdb_create_logical_type(t == "timestamp" ? DUCKDB_TYPE_TIMESTAMP_TZ
                                    : t == "long"    ? DUCKDB_TYPE_BIGINT
                                                     : DUCKDB_TYPE_VARCHAR);
}

}  // namespace

// One lake table being written: the log records staged for its next files
// (their encoded bytes, copied out of the log), what the Delta add actions
// will say about each partition, and its Delta log.
//
// A flush runs `COPY (SELECT * FROM sluice_stage_<table>()) TO …`: the table
// function decodes the staged records straight into DuckDB's data chunks on
// every DuckDB thread at once, so rows go from the log's encoding to Parquet
// without a staging table in between.
class StagedTable {
 public:
  StagedTable(std::string name, bool quarantine, std::string root)
      : name_(std::move(name)), quarantine_(quarantine), delta_(std::move(root)) {}

  const std::string& name() const { return name_; }
  bool quarantine() const { return quarantine_; }
  const DeltaTable& delta() const { return delta_; }
  DeltaSnapshot& snapshot() { return snapshot_; }
  int64_t txn_version() const {
    auto it = snapshot_.txn_versions.find(kLakeAppId);
    return it == snapshot_.txn_versions.end() ? -1 : it->second;
  }
  uint64_t staged_rows() const { return records_.size(); }
  uint64_t staged_bytes() const { return arena_.size(); }
  int64_t oldest_staged_ms() const { return oldest_staged_ms_.load(std::memory_order_relaxed); }
  // For /metrics, from any thread: 0 when nothing is staged.
  int64_t oldest_staged_ms_if_any() const { return staged_any_.load(std::memory_order_relaxed) ? oldest_staged_ms() : 0; }
  uint64_t committed_rows = 0;
  uint64_t committed_files = 0;
  std::string scan_function() const { return "sluice_stage_" + name_; }

  // What the Delta add action of each partition's file says about it.
  struct PartitionStats {
    int64_t rows = 0;
    int64_t min_timestamp = INT64_MAX, max_timestamp = INT64_MIN;
    int64_t min_received = INT64_MAX, max_received = INT64_MIN;
    std::vector<int64_t> nulls;  // per data column, counted by the scan
  };
  const std::map<int64_t, PartitionStats>& partitions() const { return partitions_; }  // by hour start

  void Add(std::string_view payload, const EventHead& head, uint64_t log_offset) {
    if (records_.empty()) {
      oldest_staged_ms_.store(SteadyMillis(), std::memory_order_relaxed);
      staged_any_.store(true, std::memory_order_relaxed);
    }
    records_.push_back({arena_.size(), payload.size(), log_offset});
    arena_.append(payload);
    PartitionStats& ps = partitions_[HourStart(head.received_at_us)];
    if (ps.nulls.empty()) ps.nulls.assign(LakeColumns(quarantine_).size(), 0);
    ++ps.rows;
    ps.min_timestamp = std::min(ps.min_timestamp, head.timestamp_us);
    ps.max_timestamp = std::max(ps.max_timestamp, head.timestamp_us);
    ps.min_received = std::min(ps.min_received, head.received_at_us);
    ps.max_received = std::max(ps.max_received, head.received_at_us);
  }

  void Reset() {
    staged_any_.store(false, std::memory_order_relaxed);
    arena_.clear();
    records_.clear();
    partitions_.clear();
  }

  // Registers this table's scan function on `db` (once per connection).
  Status RegisterScan(EmbeddedDuckDb* db) {
    duckdb_table_function f = duckdb_create_table_function();
    duckdb_table_function_set_name(f, scan_function().c_str());
    duckdb_table_function_set_extra_info(f, this, nullptr);
    duckdb_table_function_set_bind(f, &Bind);
    duckdb_table_function_set_init(f, &Init);
    duckdb_table_function_set_local_init(f, &LocalInit);
    duckdb_table_function_set_function(f, &Scan);
    duckdb_state state = duckdb_register_table_function(db->connection(), f);
    duckdb_destroy_table_function(&f);
    if (state == DuckDBError) return Status::Internal("duckdb: cannot register " + scan_function());
    return Status::Ok();
  }

 private:
  struct StagedRecord {
    size_t offset;  // in arena_
    size_t size;
    uint64_t log_offset;
  };
  struct ScanState {
    std::atomic<size_t> next{0};
  };
  struct ThreadState {
    Event event;
    int64_t hour = INT64_MIN;
    std::string dt, hh;
    std::string json;  // flags / corrections text of the current row
    std::map<int64_t, std::vector<int64_t>> nulls;  // merged into partitions_ after each chunk
  };

  static void Bind(duckdb_bind_info info) {
    auto* t = static_cast<StagedTable*>(duckdb_bind_get_extra_info(info));
    for (const LakeColumn& c : LakeColumns(t->quarantine_)) {
      duckdb_logical_type type = DuckTypeOf(c);
      duckdb_bind_add_result_column(info, c.name, type);
      duckdb_destroy_logical_type(&type);
    }
    duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_bind_add_result_column(info, "dt", varchar);
    duckdb_bind_add_result_column(info, "hour", varchar);
    duckdb_destroy_logical_type(&varchar);
    duckdb_bind_set_cardinality(info, t->records_.size(), true);
  }

  static void Init(duckdb_init_info info) {
    duckdb_init_set_init_data(info, new ScanState(), [](void* p) { delete static_cast<ScanState*>(p); });
    duckdb_init_set_max_threads(info, 64);
  }

  static void LocalInit(duckdb_init_info info) {
    duckdb_init_set_init_data(info, new ThreadState(), [](void* p) { delete static_cast<ThreadState*>(p); });
  }

  static void Scan(duckdb_function_info info, duckdb_data_chunk out) {
    auto* t = static_cast<StagedTable*>(duckdb_function_get_extra_info(info));
    auto* scan = static_cast<ScanState*>(duckdb_function_get_init_data(info));
    auto* ts = static_cast<ThreadState*>(duckdb_function_get_local_init_data(info));
    const size_t n = duckdb_vector_size();
    const size_t begin = scan->next.fetch_add(n);
    const size_t end = std::min(begin + n, t->records_.size());
    if (begin >= end) {
      duckdb_data_chunk_set_size(out, 0);
      return;
    }
    for (size_t k = begin; k < end; ++k) {
      const StagedRecord& rec = t->records_[k];
      Status st = DecodeEvent(std::string_view(t->arena_).substr(rec.offset, rec.size), &ts->event);
      if (!st.ok()) {
        duckdb_function_set_error(info, ("log offset " + std::to_string(rec.log_offset) + ": " + st.message()).c_str());
        return;
      }
      t->FillRow(out, k - begin, ts->event, rec.log_offset, ts);
    }
    duckdb_data_chunk_set_size(out, end - begin);
    std::lock_guard<std::mutex> l(t->nulls_mu_);
    for (auto& [hour, counts] : ts->nulls) {
      std::vector<int64_t>& into = t->partitions_[hour].nulls;
      for (size_t c = 0; c < counts.size(); ++c) into[c] += counts[c];
      std::fill(counts.begin(), counts.end(), 0);
    }
  }

  void FillRow(duckdb_data_chunk chunk, idx_t r, const Event& e, uint64_t log_offset, ThreadState* ts) const {
    const int64_t hour = HourStart(e.received_at_us);
    if (hour != ts->hour) {
      ts->hour = hour;
      std::string iso = FormatIso8601(hour);  // 2026-11-26T14:00:00.000000Z
      ts->dt = iso.substr(0, 10);
      ts->hh = iso.substr(11, 2);
    }
    std::vector<int64_t>& nulls = ts->nulls[hour];
    if (nulls.empty()) nulls.assign(LakeColumns(quarantine_).size(), 0);
    auto null = [&](idx_t col, duckdb_vector vec) {
      if (col < nulls.size()) ++nulls[col];
      duckdb_vector_ensure_validity_writable(vec);
      duckdb_validity_set_row_invalid(duckdb_vector_get_validity(vec), r);
    };
    auto str = [&](idx_t col, std::string_view v) {
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, col);
      if (v.empty()) return null(col, vec);
      if (!simdjson::validate_utf8(v.data(), v.size())) {
        std::string fixed = ReplaceInvalidUtf8(v);
        duckdb_vector_assign_string_element_len(vec, r, fixed.data(), fixed.size());
      } else {
        duckdb_vector_assign_string_element_len(vec, r, v.data(), v.size());
      }
    };
    auto i64 = [&](idx_t col, std::optional<int64_t> v) {
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, col);
      if (!v) return null(col, vec);
      static_cast<int64_t*>(duckdb_vector_get_data(vec))[r] = *v;
    };
    str(kMessageId, e.message_id);
    str(kType, EventTypeName(e.type));
    str(kEvent, e.event);
    str(kUserId, e.user_id);
    str(kAnonymousId, e.anonymous_id);
    i64(kTimestamp, e.timestamp_us);
    i64(kOriginalTimestamp, e.original_timestamp_us);
    i64(kSentAt, e.sent_at_us);
    i64(kReceivedAt, e.received_at_us);
    str(kProperties, e.properties);
    str(kTraits, e.traits);
    str(kContext, e.context);
    str(kSource, e.source);
    i64(kLogOffset, static_cast<int64_t>(log_offset));
    str(kName, e.name);
    str(kGroupId, e.group_id);
    str(kPreviousId, e.previous_id);
    str(kIntegrations, e.integrations);
    str(kExtra, e.extra);
    idx_t next = kExtra + 1;
    if (quarantine_) {
      str(kErrors, ErrorsJson(e));
      str(kRaw, e.raw);
      next = kRaw + 1;
    }
    // The quality tail (LakeColumns): flags, corrections, replayed_from.
    ts->json.clear();
    if (!e.flags.empty()) AppendViolationsJson(&ts->json, e.flags);
    str(next, ts->json);
    ts->json.clear();
    if (!e.corrections.empty()) AppendCorrectionsJson(&ts->json, e.corrections);
    str(next + 1, ts->json);
    i64(next + 2, e.replayed_from_offset ? std::optional<int64_t>(static_cast<int64_t>(*e.replayed_from_offset))
                                          : std::nullopt);
    next += 3;
    str(next, ts->dt);
    str(next + 1, ts->hh);
  }

  std::string name_;
  bool quarantine_;
  DeltaTable delta_;
  DeltaSnapshot snapshot_;
  std::string arena_;                 // staged payloads, back to back
  std::vector<StagedRecord> records_;
  std::map<int64_t, PartitionStats> partitions_;
  std::mutex nulls_mu_;
  std::atomic<int64_t> oldest_staged_ms_{0};
  std::atomic<bool> staged_any_{false};
};

struct LakeWriter::Impl {
  LakeOptions options;
  log::Log* log = nullptr;
  std::unique_ptr<EmbeddedDuckDb> db;
  std::vector<std::unique_ptr<StagedTable>> tables;  // events, quarantine
  std::unique_ptr<log::LogReader> reader;
  log::LogOffset next;             // next log offset to read
  log::LogOffset committed_next;   // consumer offset last committed
  std::atomic<uint64_t> committed_next_for_metrics{0};
  bool crashed = false;            // a simulated crash: refuse all work
  // Parquet bytes per staged input byte, learned from the files written.
  double parquet_ratio = 0.12;

  monitor::Counter* rows_total[2];
  monitor::Counter* files_total[2];
  monitor::Counter* commits_total[2];
  monitor::Counter* bytes_total;
  monitor::Counter* errors_total;
  monitor::Histogram* flush_seconds;

  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  Status thread_error = Status::Ok();

  Status Recover();
  Status CommitTable(StagedTable& t, int64_t through_offset, LakeFlushReport* report);
  // The lineage run of one Flush: the log range [committed_next, through] in.
  lineage::RunEvent StartLineageRun(int64_t through_offset) const;
};

lineage::RunEvent LakeWriter::Impl::StartLineageRun(int64_t through_offset) const {
  std::error_code ec;
  const fs::path root = fs::absolute(options.root, ec).lexically_normal();
  lineage::RunEvent run;
  run.run_id = NewUuid();
  run.job_name = "lake.write";
  run.event_time_us = NowMicros();
  lineage::Dataset log_in{"file://" + (root.parent_path() / "log").string(), "log", std::nullopt, {}, std::nullopt, {}};
  log_in.io_facets.push_back({"sluice_logOffsets", "\"from\":" + std::to_string(committed_next.value) +
                                                       ",\"to\":" + std::to_string(through_offset)});
  run.inputs.push_back(std::move(log_in));
  return run;
}

LakeWriter::LakeWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LakeWriter::~LakeWriter() {
  if (impl_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> l(impl_->mu);
      impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->thread.join();
  }
}

Result<std::unique_ptr<LakeWriter>> LakeWriter::Open(const LakeOptions& options, log::Log* log,
                                                     monitor::Registry* metrics) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->log = log;
  const std::string staging = options.root + "/_staging";
  std::error_code ec;
  fs::remove_all(staging, ec);  // only ever half-written Parquet from a previous run
  SLUICE_RETURN_IF_ERROR(CreateDirectories(staging + "/tmp"));
  DuckDbOptions dopt;
  dopt.memory_limit = options.duckdb_memory_limit;
  dopt.threads = options.duckdb_threads;
  dopt.temp_directory = staging + "/tmp";
  SLUICE_ASSIGN_OR_RETURN(impl->db, EmbeddedDuckDb::Open(dopt));
  impl->tables.push_back(std::make_unique<StagedTable>(kEventsTable, false, options.root + "/" + kEventsTable));
  impl->tables.push_back(std::make_unique<StagedTable>(kQuarantineTable, true, options.root + "/" + kQuarantineTable));
  for (int k = 0; k < 2; ++k) {
    monitor::Labels table{{"table", impl->tables[k]->name()}};
    impl->rows_total[k] = metrics->GetCounter("sluice_lake_rows_total", "Rows committed to the lake.", table);
    impl->files_total[k] = metrics->GetCounter("sluice_lake_files_total", "Parquet files committed to the lake.", table);
    impl->commits_total[k] = metrics->GetCounter("sluice_lake_commits_total", "Delta commits written.", table);
  }
  impl->bytes_total = metrics->GetCounter("sluice_lake_bytes_total", "Parquet bytes committed to the lake.");
  impl->errors_total = metrics->GetCounter("sluice_lake_errors_total", "Lake flushes that failed (retried).");
  impl->flush_seconds = metrics->GetHistogram("sluice_lake_flush_seconds", "Time to write and commit one roll.",
                                              {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  SLUICE_RETURN_IF_ERROR(impl->Recover());
  Impl* raw = impl.get();
  metrics->AddGaugeCallback("sluice_lake_lag_records", "Durable log records not yet committed to the lake.", {},
                            [raw, log] {
                              return static_cast<double>(log->EndOffset().value -
                                                         raw->committed_next_for_metrics.load(std::memory_order_relaxed));
                            });
  metrics->AddGaugeCallback("sluice_lake_lag_seconds", "Age of the oldest row staged for the lake (0 when none).", {},
                            [raw] {
                              int64_t oldest = 0;
                              for (auto& t : raw->tables) {
                                int64_t o = t->oldest_staged_ms_if_any();
                                if (o && (!oldest || o < oldest)) oldest = o;
                              }
                              return oldest ? (SteadyMillis() - oldest) / 1000.0 : 0.0;
                            });
  return std::unique_ptr<LakeWriter>(new LakeWriter(std::move(impl)));
}

Status LakeWriter::Impl::Recover() {
  for (auto& t : tables) {
    SLUICE_ASSIGN_OR_RETURN(t->snapshot(), t->delta().Snapshot());
    if (t->snapshot().version < 0) {
      DeltaCommit create;
      DeltaCommitInfo info;
      info.timestamp_ms = NowMillis();
      info.operation = "CREATE TABLE";
      info.operation_parameters = {{"isManaged", "false"},
                                   {"description", t->quarantine() ? "Sluice quarantined events" : "Sluice events"},
                                   {"partitionBy", "[\"dt\",\"hour\"]"},
                                   {"properties", "{}"}};
      info.engine_info = "sluice/" SLUICE_VERSION;
      create.commit_info = info;
      create.protocol = DeltaProtocol{};
      DeltaMetadata meta;
      meta.id = NewUuid();
      meta.schema_string = LakeSchemaString(t->quarantine());
      meta.partition_columns = {"dt", "hour"};
      meta.created_time_ms = info.timestamp_ms;
      create.metadata = meta;
      Status st = t->delta().TryCommit(0, create);
      if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
      SLUICE_ASSIGN_OR_RETURN(t->snapshot(), t->delta().Snapshot());
    } else if (t->snapshot().metadata.schema_string != LakeSchemaString(t->quarantine())) {
      // A newer Sluice appended columns: declare them before writing files
      // that have them (older files read them as NULL).
      DeltaCommit evolve;
      DeltaCommitInfo info;
      info.timestamp_ms = NowMillis();
      info.operation = "ADD COLUMNS";
      info.read_version = t->snapshot().version;
      info.engine_info = "sluice/" SLUICE_VERSION;
      evolve.commit_info = info;
      DeltaMetadata meta = t->snapshot().metadata;
      meta.schema_string = LakeSchemaString(t->quarantine());
      evolve.metadata = meta;
      SLUICE_RETURN_IF_ERROR(t->delta().TryCommit(t->snapshot().version + 1, evolve));
      SLUICE_ASSIGN_OR_RETURN(t->snapshot(), t->delta().Snapshot());
    }
    SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> added, t->delta().EverAddedPaths());
    SLUICE_RETURN_IF_ERROR(RemoveUncommittedFiles(t->delta().root(), added));
    SLUICE_RETURN_IF_ERROR(t->RegisterScan(db.get()));
  }
  // Resume: a table's own txn says what it holds; the consumer offset says
  // what every table held when it was written (it is written after them).
  log::LogOffset consumer{0};
  Result<log::LogOffset> c = log->ConsumerOffset(kLakeConsumer);
  if (c.ok()) consumer = *c;
  uint64_t from = UINT64_MAX;
  for (auto& t : tables) from = std::min<uint64_t>(from, std::max<uint64_t>(t->txn_version() + 1, consumer.value));
  from = std::min(from, log->EndOffset().value);
  if (from < log->StartOffset().value) {
    // Only possible when the lake was enabled after the log had already
    // dropped segments (no consumer kept them): start at what is left.
    from = log->StartOffset().value;
  }
  next = log::LogOffset{from};
  committed_next = next;
  committed_next_for_metrics = next.value;
  SLUICE_RETURN_IF_ERROR(log->CommitConsumerOffset(kLakeConsumer, next));
  SLUICE_ASSIGN_OR_RETURN(reader, log->NewReader(next));
  return Status::Ok();
}

Result<uint64_t> LakeWriter::Poll(uint64_t max_records) {
  Impl& m = *impl_;
  if (m.crashed) return Status::FailedPrecondition("lake writer crashed (test)");
  uint64_t n = 0;
  log::Record r;
  bool has = false;
  while (n < max_records) {
    SLUICE_RETURN_IF_ERROR(m.reader->Next(&r, &has));
    if (!has) break;
    ++n;
    m.next = log::LogOffset{r.offset.value + 1};
    if (r.type != kEventRecordType) continue;
    EventHead head;
    Status st = PeekEvent(r.payload, &head);
    if (!st.ok()) return Status::Corruption("log offset " + std::to_string(r.offset.value) + ": " + st.message());
    StagedTable& t = *m.tables[head.quarantined ? 1 : 0];
    if (static_cast<int64_t>(r.offset.value) <= t.txn_version()) continue;  // committed before a crash
    t.Add(r.payload, head, r.offset.value);
  }
  return n;
}

bool LakeWriter::ShouldRoll() const {
  const Impl& m = *impl_;
  uint64_t bytes = 0;
  int64_t oldest = 0;
  for (auto& t : m.tables) {
    bytes += t->staged_bytes();
    if (t->staged_rows() && (!oldest || t->oldest_staged_ms() < oldest)) oldest = t->oldest_staged_ms();
  }
  if (!oldest) return false;
  return bytes * m.parquet_ratio >= m.options.target_file_bytes || bytes >= m.options.max_staged_bytes ||
         SteadyMillis() - oldest >= m.options.max_file_age_ms;
}

Status LakeWriter::Flush(LakeFlushReport* report) {
  Impl& m = *impl_;
  if (m.crashed) return Status::FailedPrecondition("lake writer crashed (test)");
  auto started = std::chrono::steady_clock::now();
  const int64_t through = static_cast<int64_t>(m.next.value) - 1;
  const bool lineage = m.options.emit_lineage && std::any_of(m.tables.begin(), m.tables.end(),
                                                            [](const auto& t) { return t->staged_rows() > 0; });
  std::error_code ec;
  const fs::path lake_root = fs::absolute(m.options.root, ec).lexically_normal();
  const lineage::LineageEmitter emitter({(lake_root.parent_path() / "lineage").string(), m.options.lineage_endpoint});
  lineage::RunEvent run;
  if (lineage) {
    run = m.StartLineageRun(through);
    (void)emitter.Emit(run);  // the lineage file is best-effort beside the Delta log
  }
  const std::string lake_ns = "file://" + lake_root.string();
  int64_t written[2] = {0, 0};  // rows committed to events, quarantine
  bool any = false;
  for (auto& t : m.tables) {
    if (!t->staged_rows()) continue;
    any = true;
    uint64_t input_bytes = t->staged_bytes();
    LakeFlushReport local;
    Status st = m.CommitTable(*t, through, &local);
    if (!st.ok()) {
      m.errors_total->Inc();
      if (lineage) {
        run.state = lineage::RunState::kFail;
        run.error_message = st.message();
        run.event_time_us = NowMicros();
        (void)emitter.Emit(run);
      }
      return st;
    }
    written[t->quarantine() ? 1 : 0] = static_cast<int64_t>(local.rows);
    if (lineage) {
      lineage::Dataset out{lake_ns, t->name(), t->snapshot().version, {}, static_cast<int64_t>(local.rows), {}};
      for (const LakeColumn& c : LakeColumns(t->quarantine())) out.fields.push_back({c.name, c.delta_type});
      out.fields.push_back({"dt", "string"});
      out.fields.push_back({"hour", "string"});
      run.outputs.push_back(std::move(out));
    }
    if (input_bytes && local.bytes) {
      m.parquet_ratio = 0.5 * m.parquet_ratio + 0.5 * (static_cast<double>(local.bytes) / input_bytes);
    }
    if (report) {
      report->rows += local.rows;
      report->files += local.files;
      report->bytes += local.bytes;
      report->partitions.insert(report->partitions.end(), local.partitions.begin(), local.partitions.end());
    }
  }
  if (any) m.flush_seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (lineage) {
    // The gate's verdicts over the same log range, on every table written.
    for (lineage::Dataset& out : run.outputs) {
      out.io_facets.push_back({"sluice_quality", "\"acceptedRows\":" + std::to_string(written[0]) +
                                                     ",\"quarantinedRows\":" + std::to_string(written[1])});
    }
    run.state = lineage::RunState::kComplete;
    run.event_time_us = NowMicros();
    (void)emitter.Emit(run);
  }
  if (m.next != m.committed_next) {
    SLUICE_RETURN_IF_ERROR(m.log->CommitConsumerOffset(kLakeConsumer, m.next));
    m.committed_next = m.next;
    m.committed_next_for_metrics = m.next.value;
  }
  return Status::Ok();
}

Status LakeWriter::Impl::CommitTable(StagedTable& t, int64_t through_offset, LakeFlushReport* report) {
  const int idx = t.quarantine() ? 1 : 0;
  const std::string out_dir = options.root + "/_staging/" + NewUuid();
  SLUICE_RETURN_IF_ERROR(db->Execute("COPY (SELECT * FROM " + t.scan_function() + "()) TO " + SqlQuote(out_dir) +
                                     " (" + kLakeParquetOptions +
                                     ", PARTITION_BY (dt, hour), WRITE_PARTITION_COLUMNS false)"));
  DeltaCommit commit;
  const int64_t now_ms = NowMillis();
  uint64_t rows = 0, bytes = 0;
  for (const auto& [hour, ps] : t.partitions()) {
    const std::string iso = FormatIso8601(hour);
    PartitionValues pv{{"dt", iso.substr(0, 10)}, {"hour", iso.substr(11, 2)}};
    std::string rel_dir = "dt=" + pv["dt"] + "/hour=" + pv["hour"];
    SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> written, ListParquetFiles(out_dir + "/" + rel_dir));
    if (written.size() != 1) {
      return Status::Internal("lake: expected one Parquet file for " + rel_dir + ", DuckDB wrote " +
                              std::to_string(written.size()));
    }
    DeltaAdd add;
    add.path = rel_dir + "/part-00000-" + NewUuid() + ".c000.zstd.parquet";
    add.partition_values = pv;
    add.modification_time_ms = now_ms;
    add.data_change = true;
    FileStats fstats;
    fstats.num_records = ps.rows;
    fstats.min_timestamp_us = ps.min_timestamp;
    fstats.max_timestamp_us = ps.max_timestamp;
    fstats.min_received_at_us = ps.min_received;
    fstats.max_received_at_us = ps.max_received;
    for (size_t c = 0; c < LakeColumns(t.quarantine()).size(); ++c) {
      fstats.null_counts.emplace_back(LakeColumns(t.quarantine())[c].name, ps.nulls[c]);
    }
    add.stats = EncodeFileStats(fstats);
    SLUICE_ASSIGN_OR_RETURN(add.size, MoveIntoTable(written[0], t.delta().root() + "/" + add.path));
    rows += fstats.num_records;
    bytes += add.size;
    if (report) report->partitions.push_back(t.name() + "/" + rel_dir);
    commit.adds.push_back(std::move(add));
  }
  std::error_code ec;
  fs::remove_all(out_dir, ec);
  if (options.crash_point == LakeCrashPoint::kDataFilesWritten) {
    crashed = true;
    return Status::Internal("simulated crash after the data files were written");
  }
  DeltaCommitInfo info;
  info.timestamp_ms = now_ms;
  info.operation = "WRITE";
  info.operation_parameters = {{"mode", "Append"}, {"partitionBy", "[\"dt\",\"hour\"]"}};
  info.operation_metrics = {{"numFiles", std::to_string(commit.adds.size())},
                            {"numOutputRows", std::to_string(rows)},
                            {"numOutputBytes", std::to_string(bytes)}};
  info.is_blind_append = true;
  info.engine_info = "sluice/" SLUICE_VERSION;
  commit.txns.push_back(DeltaTxn{kLakeAppId, through_offset, now_ms});
  for (int attempt = 0;; ++attempt) {
    const int64_t version = t.snapshot().version + 1;
    info.read_version = t.snapshot().version;
    commit.commit_info = info;
    if (options.crash_point == LakeCrashPoint::kCommitFileWritten) {
      // The temp file is written and synced; the crash comes before the link.
      SLUICE_RETURN_IF_ERROR(t.delta().WriteTempCommit(commit).status());
      crashed = true;
      return Status::Internal("simulated crash after the temp commit file was written");
    }
    Status st = t.delta().TryCommit(version, commit);
    if (st.ok()) {
      t.snapshot().Apply(version, commit);
      break;
    }
    if (st.code() != StatusCode::kAlreadyExists || attempt >= 16) return st;
    // Another writer (compaction) took the version: blind appends never
    // conflict, but a txn at or past ours would mean two lake writers.
    SLUICE_ASSIGN_OR_RETURN(t.snapshot(), t.delta().Snapshot());
    if (t.txn_version() >= through_offset) {
      return Status::FailedPrecondition("lake: another writer already committed log offset " +
                                        std::to_string(t.txn_version()) + " to " + t.name());
    }
  }
  if (options.crash_point == LakeCrashPoint::kCommitted) {
    crashed = true;
    return Status::Internal("simulated crash after the commit, before the consumer offset");
  }
  rows_total[idx]->Inc(rows);
  files_total[idx]->Inc(commit.adds.size());
  commits_total[idx]->Inc();
  bytes_total->Inc(bytes);
  t.committed_rows += rows;
  t.committed_files += commit.adds.size();
  if (report) {
    report->rows += rows;
    report->files += commit.adds.size();
    report->bytes += bytes;
  }
  t.Reset();
  return Status::Ok();
}

Status LakeWriter::CatchUp(LakeFlushReport* report) {
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, Poll());
    if (ShouldRoll()) SLUICE_RETURN_IF_ERROR(Flush(report));
    if (n == 0) break;
  }
  return Flush(report);
}

void LakeWriter::Start() {
  impl_->thread = std::thread([this] { Loop(); });
}

void LakeWriter::Loop() {
  Impl& m = *impl_;
  int64_t backoff_ms = 0;
  std::string last_error;
  for (;;) {
    uint64_t n = 0;
    Result<uint64_t> polled = Poll();
    Status st = polled.status();
    if (st.ok()) n = *polled;
    if (st.ok() && ShouldRoll()) st = Flush();
    int64_t wait_ms = n == 0 ? m.options.poll_interval_ms : 0;
    if (!st.ok()) {
      // Staged rows stay staged; the next attempt rewrites their files.
      if (st.ToString() != last_error) std::fprintf(stderr, "sluice: lake: %s (retrying)\n", st.ToString().c_str());
      last_error = st.ToString();
      backoff_ms = std::min<int64_t>(30'000, std::max<int64_t>(500, backoff_ms * 2));
      wait_ms = backoff_ms;
      std::lock_guard<std::mutex> l(m.mu);
      m.thread_error = st;
    } else if (backoff_ms) {
      backoff_ms = 0;
      last_error.clear();
      std::lock_guard<std::mutex> l(m.mu);
      m.thread_error = Status::Ok();
    }
    std::unique_lock<std::mutex> l(m.mu);
    if (wait_ms) m.cv.wait_for(l, std::chrono::milliseconds(wait_ms), [&] { return m.stop; });
    if (m.stop) break;
  }
}

Status LakeWriter::Stop() {
  Impl& m = *impl_;
  if (m.thread.joinable()) {
    {
      std::lock_guard<std::mutex> l(m.mu);
      m.stop = true;
    }
    m.cv.notify_all();
    m.thread.join();
  }
  if (m.crashed) return m.thread_error;
  Status st = CatchUp();
  return st.ok() ? m.thread_error : st;
}

std::vector<LakeTableStatus> LakeWriter::TableStatus() const {
  std::vector<LakeTableStatus> out;
  for (auto& t : impl_->tables) {
    out.push_back({t->name(), t->snapshot().version, t->txn_version(), t->staged_rows(), t->committed_rows,
                   t->committed_files});
  }
  return out;
}

log::LogOffset LakeWriter::next_offset() const { return impl_->next; }

}  // namespace sluice::lake
