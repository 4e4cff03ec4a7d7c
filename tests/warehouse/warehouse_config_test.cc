// The `warehouse:` section of the server config: values, defaults, typos.
#include <gtest/gtest.h>

#include <fstream>

#include "server/server.h"
#include "tests/testing/temp_dir.h"

namespace sluice {
namespace {

TEST(WarehouseConfigTest, ReadsTheWarehouseSectionAndRejectsUnknownKeys) {
  testing::TempDir dir("sluice-wh-config");
  std::ofstream(dir.Sub("ok.yaml")) << "warehouse:\n  models_dir: /srv/models\n  delay: 15m\n  max_attempts: 5\n"
                                       "  retry_backoff: 1m\n  threads: 2\n  lineage_endpoint: http://127.0.0.1:5000\n"
                                       "  clickhouse_url: http://127.0.0.1:8123/?database=analytics\n";
  std::ofstream(dir.Sub("off.yaml")) << "warehouse:\n  enabled: false\n";
  std::ofstream(dir.Sub("typo.yaml")) << "warehouse:\n  dealy: 5m\n";
  std::ofstream(dir.Sub("late.yaml")) << "warehouse:\n  delay: 2h\n";
  auto ok = server::LoadServerConfig(dir.Sub("ok.yaml"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->warehouse_enabled);
  EXPECT_EQ(ok->warehouse.models_dir, "/srv/models");
  EXPECT_EQ(ok->warehouse_schedule.delay_us, 15 * kMicrosPerMinute);
  EXPECT_EQ(ok->warehouse_schedule.max_attempts, 5);
  EXPECT_EQ(ok->warehouse_schedule.retry_backoff_us, kMicrosPerMinute);
  EXPECT_EQ(ok->warehouse.duckdb_threads, 2);
  EXPECT_EQ(ok->warehouse.lineage_endpoint, "http://127.0.0.1:5000");
  EXPECT_EQ(ok->warehouse.clickhouse_url, "http://127.0.0.1:8123/?database=analytics");
  EXPECT_FALSE(server::LoadServerConfig(dir.Sub("off.yaml"))->warehouse_enabled);
  auto typo = server::LoadServerConfig(dir.Sub("typo.yaml"));
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("warehouse.dealy"), std::string::npos) << typo.status().message();
  EXPECT_FALSE(server::LoadServerConfig(dir.Sub("late.yaml")).ok());
}

TEST(QueryConfigTest, ReadsTheQuerySectionWithDefaultsAndBounds) {
  testing::TempDir dir("sluice-query-config");
  std::ofstream(dir.Sub("ok.yaml")) << "query:\n  timeout: 30s\n  max_rows: 500\n  max_concurrent: 2\n";
  std::ofstream(dir.Sub("zero.yaml")) << "query:\n  max_rows: 0\n";
  std::ofstream(dir.Sub("typo.yaml")) << "query:\n  timeuot: 5s\n";
  std::ofstream(dir.Sub("empty.yaml")) << "data_dir: /tmp/x\n";
  auto ok = server::LoadServerConfig(dir.Sub("ok.yaml"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->query.enabled);
  EXPECT_EQ(ok->query.timeout_seconds, 30);
  EXPECT_EQ(ok->query.max_rows, 500);
  EXPECT_EQ(ok->query.max_concurrent, 2);
  auto defaults = server::LoadServerConfig(dir.Sub("empty.yaml"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->query.timeout_seconds, 10);
  EXPECT_EQ(defaults->query.max_rows, 10'000);
  auto zero = server::LoadServerConfig(dir.Sub("zero.yaml"));
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("query.max_rows"), std::string::npos) << zero.status().message();
  auto typo = server::LoadServerConfig(dir.Sub("typo.yaml"));
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("query.timeuot"), std::string::npos) << typo.status().message();
}

}  // namespace
}  // namespace sluice
