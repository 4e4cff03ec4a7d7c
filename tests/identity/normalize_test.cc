#include <random>

#include <gtest/gtest.h>

#include "identity/identity.h"

namespace sluice::identity {
namespace {

std::string Text(std::string_view raw) {
  Result<std::string> r = NormalizeText(raw);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

std::string Email(std::string_view raw) {
  Result<std::string> r = NormalizeEmail(raw, NormalizeConfig{});
  EXPECT_TRUE(r.ok()) << raw << ": " << r.status().ToString();
  return r.ok() ? *r : "";
}

std::string Phone(std::string_view raw, std::string country = "") {
  PhoneConfig config;
  config.default_country_code = std::move(country);
  Result<std::string> r = NormalizePhone(raw, config);
  EXPECT_TRUE(r.ok()) << raw << ": " << r.status().ToString();
  return r.ok() ? *r : "";
}

std::string PhoneError(std::string_view raw, std::string country = "") {
  PhoneConfig config;
  config.default_country_code = std::move(country);
  Result<std::string> r = NormalizePhone(raw, config);
  EXPECT_FALSE(r.ok()) << raw << " became " << (r.ok() ? *r : "");
  return r.ok() ? "" : r.status().message();
}

TEST(NormalizeText, FoldsCaseAndCollapsesWhitespace) {
  EXPECT_EQ(Text("  Ann   MARIE\tSmith \n"), "ann marie smith");
  EXPECT_EQ(Text(""), "");
  EXPECT_EQ(Text("   "), "");
}

TEST(NormalizeText, AppliesNfkcAndUnicodeCaseFolding) {
  EXPECT_EQ(Text("Ｊｏｈｎ"), "john");                   // full-width forms
  EXPECT_EQ(Text("ﬁona"), "fiona");                       // ligature
  EXPECT_EQ(Text("Jose\xCC\x81"), "jos\xC3\xA9");        // e + combining acute → é
  EXPECT_EQ(Text("STRASSE"), Text("Straße"));             // ß folds to ss
  EXPECT_EQ(Text("ÅSA"), "åsa");
  EXPECT_EQ(Text("ann\xC2\xA0smith"), "ann smith");      // no-break space
}

TEST(NormalizeText, AsciiShortcutAgreesWithUtf8proc) {
  // A leading "é" sends the same text through utf8proc; the ASCII part must
  // come out the same either way, control characters and all.
  std::mt19937_64 rng(12);
  for (int round = 0; round < 5000; ++round) {
    std::string s = "x";
    for (size_t i = rng() % 12; i > 0; --i) s.push_back(static_cast<char>(rng() % 128));
    s.push_back('x');
    EXPECT_EQ(Text("é" + s), "é" + Text(s)) << testing::PrintToString(s);
  }
}

TEST(NormalizeText, RefusesInvalidUtf8) {
  EXPECT_FALSE(NormalizeText("ann\xFF").ok());
}

TEST(NormalizeEmail, LowercasesAndTrims) {
  EXPECT_EQ(Email("  Ann.Smith@Example.COM "), "ann.smith@example.com");
}

TEST(NormalizeEmail, DropsGmailDotsAndPlusTags) {
  EXPECT_EQ(Email("A.nn.Smith+newsletter@GMail.com"), "annsmith@gmail.com");
  EXPECT_EQ(Email("ann.smith@googlemail.com"), "annsmith@gmail.com");
}

TEST(NormalizeEmail, DropsPlusTagsOnlyWhereTheProviderDefinesThem) {
  EXPECT_EQ(Email("ann+shop@outlook.com"), "ann@outlook.com");
  EXPECT_EQ(Email("ann.smith@outlook.com"), "ann.smith@outlook.com");  // dots matter there
  EXPECT_EQ(Email("ann+shop@example.org"), "ann+shop@example.org");
}

TEST(NormalizeEmail, RefusesMalformedAddresses) {
  NormalizeConfig c;
  EXPECT_FALSE(NormalizeEmail("ann", c).ok());
  EXPECT_FALSE(NormalizeEmail("ann@@example.com", c).ok());
  EXPECT_FALSE(NormalizeEmail("@example.com", c).ok());
  EXPECT_FALSE(NormalizeEmail("ann@localhost", c).ok());
  EXPECT_FALSE(NormalizeEmail("ann@example..com", c).ok());
  EXPECT_FALSE(NormalizeEmail("+tag@gmail.com", c).ok());
}

TEST(NormalizePhone, InternationalFormsBecomeE164) {
  EXPECT_EQ(Phone("+1 (415) 555-0132"), "+14155550132");
  EXPECT_EQ(Phone("0044 20 7946 0958"), "+442079460958");
  EXPECT_EQ(Phone("011 44 20 7946 0958"), "+442079460958");
  EXPECT_EQ(Phone("+44 (0)20 7946 0958"), "+442079460958");
  EXPECT_EQ(Phone("0044 (0)20 7946 0958"), "+442079460958");
  EXPECT_EQ(Phone("+49.30.901820"), "+4930901820");
  EXPECT_EQ(Phone("＋８１ ３ １２３４ ５６７８"), "+81312345678");  // full-width digits
}

TEST(NormalizePhone, NationalNumbersUseTheDefaultCountryAndDropTheTrunkPrefix) {
  EXPECT_EQ(Phone("020 7946 0958", "44"), "+442079460958");
  EXPECT_EQ(Phone("030 901820", "49"), "+4930901820");
  EXPECT_EQ(Phone("(415) 555-0132", "1"), "+14155550132");
  EXPECT_EQ(Phone("1 415 555 0132", "1"), "+14155550132");  // NANP trunk prefix is 1
  EXPECT_EQ(Phone("06 6982 0000", "39"), "+390669820000");   // Italy keeps its 0
  EXPECT_EQ(Phone("8 495 123-45-67", "7"), "+74951234567");
}

TEST(NormalizePhone, RefusesWhatIsNotAPhoneNumber) {
  EXPECT_NE(PhoneError("020 7946 0958").find("no default country code"), std::string::npos);
  EXPECT_NE(PhoneError("+1 415 CALL NOW").find("unexpected character"), std::string::npos);
  EXPECT_NE(PhoneError("+44 1234 5678 9012 3456").find("at most 15"), std::string::npos);
  EXPECT_NE(PhoneError("+12345").find("too short"), std::string::npos);
  EXPECT_NE(PhoneError("---").find("no digits"), std::string::npos);
  EXPECT_NE(PhoneError("+0 123 456 789").find("cannot start with 0"), std::string::npos);
  EXPECT_FALSE(NormalizePhone("+1 415 555 0132 +1", PhoneConfig{}).ok());
}

TEST(NormalizePhone, FifteenDigitsIsTheLongestAccepted) {
  EXPECT_EQ(Phone("+123456789012345"), "+123456789012345");
  PhoneError("+1234567890123456");
}

TEST(Normalizer, RefusesBlockedValuesOfEveryType) {
  Normalizer n;
  for (std::string_view v : {"null", "NULL", " undefined ", "", "test@test.com", "TEST@Test.com"}) {
    for (IdType t : {IdType::kUserId, IdType::kAnonymousId, IdType::kEmail}) {
      Result<Identifier> r = n.Normalize(t, v);
      ASSERT_FALSE(r.ok()) << v;
      EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << v << ": " << r.status().ToString();
      EXPECT_NE(r.status().message().find("blocked value"), std::string::npos);
    }
  }
}

TEST(Normalizer, BlockedValuesAreConfigurableAndComparedAfterNormalisation) {
  NormalizeConfig c;
  c.blocked_values.push_back("noreply@shop.example");
  Normalizer n(c);
  EXPECT_EQ(n.Normalize(IdType::kEmail, "NoReply@Shop.Example").status().code(), StatusCode::kFailedPrecondition);
  // googlemail and dots fold to the blocked gmail address.
  NormalizeConfig g;
  g.blocked_values = {"fake@gmail.com"};
  EXPECT_FALSE(Normalizer(g).Normalize(IdType::kEmail, "f.a.k.e+x@googlemail.com").ok());
  EXPECT_TRUE(Normalizer(g).Normalize(IdType::kEmail, "real@gmail.com").ok());
}

TEST(Normalizer, KeepsUserIdsOpaqueButTrimmed) {
  Normalizer n;
  Result<Identifier> r = n.Normalize(IdType::kUserId, "  User-42 ");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, "User-42");
  EXPECT_EQ(r->Key(), "user_id:User-42");
}

TEST(Normalizer, ExternalIdsNeedANamespace) {
  Normalizer n;
  EXPECT_FALSE(n.Normalize(IdType::kExternalId, "42").ok());
  Result<Identifier> r = n.Normalize(IdType::kExternalId, "CRM:42");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, "crm:42");
}

TEST(Identifier, KeyRoundTrips) {
  Identifier id{IdType::kEmail, "a@b.co"};
  Result<Identifier> back = Identifier::FromKey(id.Key());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id);
  EXPECT_FALSE(Identifier::FromKey("nonsense").ok());
  EXPECT_FALSE(Identifier::FromKey("shoe:42").ok());
  EXPECT_EQ(Identifier::FromKey("userId:u1")->type, IdType::kUserId);
}

}  // namespace
}  // namespace sluice::identity
