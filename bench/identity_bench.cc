// bench_identity: identity resolution figures (bench/identity.sh runs all three).
//
//   bench_identity kernel  [PAIRS]          edit-distance pairs/s: the bit-parallel
//       Levenshtein and OSA kernels against a plain two-row DP in the same run,
//       on email pairs (~20 chars) and on long strings (~150 chars).
//   bench_identity resolve [PROFILES] [THREADS]
//       synthetic people with known truth → index → batch resolve: seconds,
//       candidate pairs, confusion counts, precision/recall of auto-merges (the
//       pairs decided, and their transitive closure), review-queue size.
//   bench_identity incremental [PROFILES] [PROBES]
//       latency of one profile change (Upsert + MatchOne) against an index of
//       PROFILES: p50, p99, max.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "identity/identity.h"
#include "tests/testing/synthetic_people.h"

namespace {

using Clock = std::chrono::steady_clock;
using sluice::identity::FuzzyMatcher;
using sluice::identity::Match;
using sluice::identity::MatchConfig;
using sluice::identity::MatchDecision;
using sluice::testing::Confusion;
using sluice::testing::GeneratePeople;
using sluice::testing::SyntheticConfig;
using sluice::testing::SyntheticProfile;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The reference: Wagner-Fischer over bytes with one reused row, no allocation
// per pair — the plain DP at its fastest, so the ratio is the algorithm's.
size_t PlainLevenshtein(std::string_view a, std::string_view b, std::vector<size_t>& row) {
  row.resize(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

template <typename F>
double PairsPerSecond(const std::vector<std::pair<std::string, std::string>>& pairs, F distance, size_t* checksum) {
  auto start = Clock::now();
  size_t sum = 0;
  size_t rounds = 0;
  do {
    for (const auto& [a, b] : pairs) sum += distance(a, b);
    ++rounds;
  } while (Seconds(start) < 1.0);
  *checksum = sum / rounds;
  return static_cast<double>(rounds * pairs.size()) / Seconds(start);
}

int Kernel(size_t n_pairs) {
  SyntheticConfig config;
  config.profiles = n_pairs;
  std::vector<SyntheticProfile> people = GeneratePeople(config);
  std::mt19937_64 rng(3);
  std::vector<std::pair<std::string, std::string>> emails, longs;
  for (size_t i = 0; i + 1 < people.size(); ++i) {
    emails.emplace_back(people[i].record.email, people[rng() % people.size()].record.email);
  }
  for (size_t i = 0; i < n_pairs / 10; ++i) {
    std::string a, b;
    while (a.size() < 150) a += people[rng() % people.size()].record.email;
    b = sluice::testing::synthetic_detail::Typo(rng, a, 0, a.size());
    b = sluice::testing::synthetic_detail::Typo(rng, b, 0, b.size());
    longs.emplace_back(a, b);
  }
  std::vector<size_t> row;
  for (auto* set : {&emails, &longs}) {
    size_t c1, c2, c3;
    double dp = PairsPerSecond(*set, [&](const std::string& a, const std::string& b) { return PlainLevenshtein(a, b, row); }, &c1);
    double lev = PairsPerSecond(*set, [](const std::string& a, const std::string& b) { return sluice::identity::LevenshteinDistance(a, b); }, &c2);
    double osa = PairsPerSecond(*set, [](const std::string& a, const std::string& b) { return sluice::identity::OsaDistance(a, b); }, &c3);
    if (c1 != c2) {
      std::fprintf(stderr, "checksum mismatch: dp %zu, bit-parallel %zu\n", c1, c2);
      return 1;
    }
    double mean_len = 0;
    for (const auto& [a, b] : *set) mean_len += static_cast<double>(a.size() + b.size()) / 2;
    mean_len /= static_cast<double>(set->size());
    std::printf("kernel %-6s pairs=%zu mean_len=%.1f  plain_dp=%.3g pairs/s  levenshtein=%.3g pairs/s (%.1fx)  osa=%.3g pairs/s (%.1fx)\n",
                set == &emails ? "emails" : "long", set->size(), mean_len, dp, lev, lev / dp, osa, osa / dp);
  }
  return 0;
}

MatchConfig BenchMatchConfig() {
  MatchConfig config;
  config.normalize.phone.default_country_code = "1";  // the generator's national numbers are NANP
  return config;
}

FuzzyMatcher Load(const std::vector<SyntheticProfile>& people, double* seconds) {
  FuzzyMatcher matcher(BenchMatchConfig());
  auto start = Clock::now();
  for (const SyntheticProfile& p : people) {
    sluice::Status st = matcher.Upsert(p.record);
    if (!st.ok()) {
      std::fprintf(stderr, "upsert %s: %s\n", p.record.id.c_str(), st.ToString().c_str());
      std::exit(1);
    }
  }
  *seconds = Seconds(start);
  return matcher;
}

struct Truth {
  std::unordered_map<std::string, uint32_t> person_of;
  uint64_t true_pairs = 0;
};

Truth TruthOf(const std::vector<SyntheticProfile>& people) {
  Truth t;
  std::unordered_map<uint32_t, uint64_t> per_person;
  for (const SyntheticProfile& p : people) {
    t.person_of[p.record.id] = p.person;
    ++per_person[p.person];
  }
  for (auto& [person, k] : per_person) t.true_pairs += k * (k - 1) / 2;
  return t;
}

// Union-find over profile indexes, for the transitive closure of auto-merges.
struct Clusters {
  std::vector<uint32_t> parent;
  explicit Clusters(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  uint32_t Find(uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void Join(uint32_t a, uint32_t b) { parent[Find(a)] = Find(b); }
};

int Resolve(size_t profiles, unsigned threads) {
  auto start = Clock::now();
  SyntheticConfig config;
  config.profiles = profiles;
  std::vector<SyntheticProfile> people = GeneratePeople(config);
  std::printf("generated %zu profiles in %.1f s\n", people.size(), Seconds(start));
  Truth truth = TruthOf(people);
  double load_seconds;
  FuzzyMatcher matcher = Load(people, &load_seconds);
  std::printf("indexed in %.1f s\n", load_seconds);

  sluice::identity::ResolveStats stats;
  start = Clock::now();
  int last_percent = -1;
  bool scoring = false;
  std::vector<Match> matches = matcher.ResolveAll(&stats, threads, [&](uint64_t done, uint64_t total) {
    int percent = static_cast<int>(100 * done / std::max<uint64_t>(total, 1));
    if (!scoring) {
      std::fprintf(stderr, "blocking done (%.1f s)\n", Seconds(start));
      scoring = true;
      last_percent = -1;
      return;
    }
    if (percent / 10 != last_percent / 10) std::fprintf(stderr, "\rscoring %3d%%", percent);
    last_percent = percent;
  });
  double resolve_seconds = Seconds(start);
  std::fprintf(stderr, "\n");

  std::unordered_map<std::string, uint32_t> index_of;
  for (uint32_t i = 0; i < people.size(); ++i) index_of[people[i].record.id] = i;
  Confusion direct;
  Clusters clusters(people.size());
  uint64_t review_true = 0;
  for (const Match& m : matches) {
    bool same = truth.person_of.at(m.a) == truth.person_of.at(m.b);
    if (m.decision == MatchDecision::kAutoMerge) {
      (same ? direct.true_positive : direct.false_positive)++;
      clusters.Join(index_of.at(m.a), index_of.at(m.b));
    } else {
      review_true += same;
    }
  }
  direct.false_negative = truth.true_pairs - direct.true_positive;
  // Closure: pairs in one merged cluster, and how many of those are one person.
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, uint64_t>> by_cluster;
  for (uint32_t i = 0; i < people.size(); ++i) ++by_cluster[clusters.Find(i)][people[i].person];
  Confusion closure;
  for (auto& [root, persons] : by_cluster) {
    uint64_t size = 0, same = 0;
    for (auto& [person, k] : persons) {
      size += k;
      same += k * (k - 1) / 2;
    }
    closure.true_positive += same;
    closure.false_positive += size * (size - 1) / 2 - same;
  }
  closure.false_negative = truth.true_pairs - closure.true_positive;

  std::printf("resolve profiles=%zu threads=%u seconds=%.1f blocking_keys=%llu oversized_blocks=%llu candidate_pairs=%llu\n",
              people.size(), threads, resolve_seconds, static_cast<unsigned long long>(stats.blocking_keys),
              static_cast<unsigned long long>(stats.oversized_blocks),
              static_cast<unsigned long long>(stats.candidate_pairs));
  std::printf("truth duplicate_pairs=%llu\n", static_cast<unsigned long long>(truth.true_pairs));
  for (auto [name, c] : {std::pair{"auto-merge pairs", direct}, std::pair{"auto-merge closure", closure}}) {
    std::printf("%-19s TP=%llu FP=%llu FN=%llu precision=%.4f recall=%.4f\n", name,
                static_cast<unsigned long long>(c.true_positive), static_cast<unsigned long long>(c.false_positive),
                static_cast<unsigned long long>(c.false_negative), c.precision(), c.recall());
  }
  std::printf("review queue=%llu (same person: %llu)\n", static_cast<unsigned long long>(stats.reviews),
              static_cast<unsigned long long>(review_true));
  return 0;
}

int Incremental(size_t profiles, size_t probes) {
  SyntheticConfig config;
  config.profiles = profiles;
  std::vector<SyntheticProfile> people = GeneratePeople(config);
  double load_seconds;
  FuzzyMatcher matcher = Load(people, &load_seconds);
  std::mt19937_64 rng(9);
  std::vector<double> micros;
  micros.reserve(probes);
  size_t matched = 0;
  for (size_t i = 0; i < probes; ++i) {
    // A traits change: an existing profile gets a new email with a typo.
    sluice::identity::ProfileRecord r = people[rng() % people.size()].record;
    r.email = sluice::testing::synthetic_detail::Typo(rng, r.email, 0, r.email.find('@'));
    auto start = Clock::now();
    sluice::Status st = matcher.Upsert(r);
    auto matches = matcher.MatchOne(r.id);
    micros.push_back(Seconds(start) * 1e6);
    if (!st.ok() || !matches.ok()) return 1;
    matched += !matches->empty();
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<size_t>(q * static_cast<double>(micros.size() - 1))]; };
  std::printf("incremental index=%zu probes=%zu p50=%.1f us p99=%.1f us max=%.1f us (with a match: %zu)\n",
              profiles, probes, at(0.5), at(0.99), micros.back(), matched);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  auto arg = [&](int i, size_t fallback) { return argc > i ? std::strtoull(argv[i], nullptr, 10) : fallback; };
  if (mode == "kernel") return Kernel(arg(2, 100000));
  if (mode == "resolve") return Resolve(arg(2, 1000000), static_cast<unsigned>(arg(3, 2)));
  if (mode == "incremental") return Incremental(arg(2, 1000000), arg(3, 10000));
  std::fprintf(stderr, "usage: bench_identity kernel [PAIRS] | resolve [PROFILES] [THREADS] | incremental [PROFILES] [PROBES]\n");
  return 2;
}
