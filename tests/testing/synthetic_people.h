// Synthetic people with known truth for identity resolution: each profile
// carries the person it belongs to. Duplicates of a person differ by typos
// (insert, delete, substitute, transpose) in email or name, case and Gmail
// variants, phone formatting and missing fields. Traps: family members sharing
// a mailbox (and often a landline and a city), and common names whose
// addresses differ by a digit ("johnsmith84" / "johnsmith85").
//
// Used by tests/identity (small sizes) and bench/identity_bench.cc (1M).
// Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "identity/identity.h"

namespace sluice::testing {

struct SyntheticProfile {
  identity::ProfileRecord record;
  uint32_t person = 0;
};

struct SyntheticConfig {
  size_t profiles = 100000;
  uint64_t seed = 1;
  double duplicate_rate = 0.20;   // share of people with more than one profile
  double family_rate = 0.03;      // share of people who share a mailbox with a relative
};

namespace synthetic_detail {

struct Name {
  const char* display;
  const char* ascii;  // as people type it into an address
};

// Ordered roughly by frequency: the generator picks early entries more often,
// so the first few are the "common names" trap.
inline const Name kFirstNames[] = {
    {"John", "john"}, {"Mary", "mary"}, {"James", "james"}, {"Linda", "linda"}, {"Michael", "michael"},
    {"Sarah", "sarah"}, {"David", "david"}, {"Emma", "emma"}, {"Robert", "robert"}, {"Anna", "anna"},
    {"William", "william"}, {"Laura", "laura"}, {"Daniel", "daniel"}, {"Olivia", "olivia"}, {"Thomas", "thomas"},
    {"Sophie", "sophie"}, {"Joseph", "joseph"}, {"Emily", "emily"}, {"Charles", "charles"}, {"Grace", "grace"},
    {"Peter", "peter"}, {"Chloe", "chloe"}, {"Mark", "mark"}, {"Lucy", "lucy"}, {"Paul", "paul"},
    {"Hannah", "hannah"}, {"Steven", "steven"}, {"Alice", "alice"}, {"Andrew", "andrew"}, {"Julia", "julia"},
    {"Kevin", "kevin"}, {"Megan", "megan"}, {"Brian", "brian"}, {"Rachel", "rachel"}, {"George", "george"},
    {"Amy", "amy"}, {"Edward", "edward"}, {"Helen", "helen"}, {"Ryan", "ryan"}, {"Karen", "karen"},
    {"Jason", "jason"}, {"Nicole", "nicole"}, {"Jacob", "jacob"}, {"Jessica", "jessica"}, {"Gary", "gary"},
    {"Rebecca", "rebecca"}, {"Eric", "eric"}, {"Amanda", "amanda"}, {"Adam", "adam"}, {"Kate", "kate"},
    {"José", "jose"}, {"Zoë", "zoe"}, {"Søren", "soren"}, {"Björn", "bjorn"}, {"François", "francois"},
    {"Łukasz", "lukasz"}, {"Chloé", "chloe"}, {"Matthäus", "matthaus"}, {"Inès", "ines"}, {"Nikolaï", "nikolai"},
    {"Priya", "priya"}, {"Wei", "wei"}, {"Hiroshi", "hiroshi"}, {"Aisha", "aisha"}, {"Mohammed", "mohammed"},
    {"Fatima", "fatima"}, {"Carlos", "carlos"}, {"Lucia", "lucia"}, {"Ivan", "ivan"}, {"Olga", "olga"},
    {"Pedro", "pedro"}, {"Giulia", "giulia"}, {"Lars", "lars"}, {"Ingrid", "ingrid"}, {"Dmitri", "dmitri"},
    {"Yuki", "yuki"}, {"Ravi", "ravi"}, {"Ana", "ana"}, {"Marco", "marco"}, {"Elena", "elena"},
    {"Oscar", "oscar"}, {"Maja", "maja"}, {"Felix", "felix"}, {"Nora", "nora"}, {"Hugo", "hugo"},
    {"Ella", "ella"}, {"Leo", "leo"}, {"Mia", "mia"}, {"Max", "max"}, {"Lea", "lea"},
    {"Samuel", "samuel"}, {"Isabel", "isabel"}, {"Victor", "victor"}, {"Clara", "clara"}, {"Simon", "simon"},
    {"Eva", "eva"}, {"Martin", "martin"}, {"Rosa", "rosa"}, {"Patrick", "patrick"}, {"Irene", "irene"},
};
inline const Name kLastNames[] = {
    {"Smith", "smith"}, {"Johnson", "johnson"}, {"Williams", "williams"}, {"Brown", "brown"}, {"Jones", "jones"},
    {"Garcia", "garcia"}, {"Miller", "miller"}, {"Davis", "davis"}, {"Wilson", "wilson"}, {"Taylor", "taylor"},
    {"Anderson", "anderson"}, {"Thomas", "thomas"}, {"Moore", "moore"}, {"Martin", "martin"}, {"Jackson", "jackson"},
    {"Thompson", "thompson"}, {"White", "white"}, {"Harris", "harris"}, {"Clark", "clark"}, {"Lewis", "lewis"},
    {"Robinson", "robinson"}, {"Walker", "walker"}, {"Young", "young"}, {"Allen", "allen"}, {"King", "king"},
    {"Wright", "wright"}, {"Scott", "scott"}, {"Green", "green"}, {"Baker", "baker"}, {"Adams", "adams"},
    {"Nelson", "nelson"}, {"Hill", "hill"}, {"Campbell", "campbell"}, {"Mitchell", "mitchell"}, {"Roberts", "roberts"},
    {"Carter", "carter"}, {"Phillips", "phillips"}, {"Evans", "evans"}, {"Turner", "turner"}, {"Parker", "parker"},
    {"Collins", "collins"}, {"Edwards", "edwards"}, {"Stewart", "stewart"}, {"Morris", "morris"}, {"Murphy", "murphy"},
    {"Cook", "cook"}, {"Rogers", "rogers"}, {"Morgan", "morgan"}, {"Cooper", "cooper"}, {"Peterson", "peterson"},
    {"Müller", "muller"}, {"Schröder", "schroder"}, {"Nuñez", "nunez"}, {"González", "gonzalez"}, {"Østergaard", "ostergaard"},
    {"Dvořák", "dvorak"}, {"Lefèvre", "lefevre"}, {"Kowalski", "kowalski"}, {"Nowak", "nowak"}, {"Rossi", "rossi"},
    {"Bianchi", "bianchi"}, {"Schmidt", "schmidt"}, {"Schneider", "schneider"}, {"Fischer", "fischer"}, {"Weber", "weber"},
    {"Meyer", "meyer"}, {"Wagner", "wagner"}, {"Becker", "becker"}, {"Hoffmann", "hoffmann"}, {"Dubois", "dubois"},
    {"Laurent", "laurent"}, {"Moreau", "moreau"}, {"Fernandez", "fernandez"}, {"Lopez", "lopez"}, {"Martinez", "martinez"},
    {"Sanchez", "sanchez"}, {"Perez", "perez"}, {"Ramirez", "ramirez"}, {"Torres", "torres"}, {"Flores", "flores"},
    {"Rivera", "rivera"}, {"Gomez", "gomez"}, {"Diaz", "diaz"}, {"Reyes", "reyes"}, {"Cruz", "cruz"},
    {"Kim", "kim"}, {"Lee", "lee"}, {"Park", "park"}, {"Chen", "chen"}, {"Wang", "wang"},
    {"Li", "li"}, {"Zhang", "zhang"}, {"Liu", "liu"}, {"Singh", "singh"}, {"Patel", "patel"},
    {"Kumar", "kumar"}, {"Sharma", "sharma"}, {"Nakamura", "nakamura"}, {"Tanaka", "tanaka"}, {"Suzuki", "suzuki"},
    {"Ivanov", "ivanov"}, {"Petrov", "petrov"}, {"Novak", "novak"}, {"Horvat", "horvat"}, {"Jensen", "jensen"},
    {"Hansen", "hansen"}, {"Nielsen", "nielsen"}, {"Larsen", "larsen"}, {"Berg", "berg"}, {"Lindqvist", "lindqvist"},
    {"O'Brien", "obrien"}, {"Byrne", "byrne"}, {"Walsh", "walsh"}, {"Ryan", "ryan"}, {"Kelly", "kelly"},
    {"Fitzgerald", "fitzgerald"}, {"MacDonald", "macdonald"}, {"Fraser", "fraser"}, {"Reid", "reid"}, {"Hughes", "hughes"},
};
inline const char* const kCities[] = {
    "London", "New York", "Berlin", "Paris", "Madrid", "Rome", "Chicago", "Toronto", "Sydney", "Dublin",
    "Manchester", "Boston", "Hamburg", "Munich", "Lyon", "Barcelona", "Milan", "Seattle", "Austin", "Denver",
    "Leeds", "Glasgow", "Bristol", "Cologne", "Frankfurt", "Marseille", "Valencia", "Naples", "Portland", "Atlanta",
    "Vancouver", "Montreal", "Melbourne", "Cork", "Edinburgh", "Cardiff", "Stuttgart", "Düsseldorf", "Toulouse", "Seville",
    "Turin", "Phoenix", "Dallas", "Houston", "Miami", "Ottawa", "Brisbane", "Perth", "Galway", "Belfast",
    "Leipzig", "Dresden", "Nice", "Bilbao", "Bologna", "Florence", "San Diego", "Detroit", "Calgary", "Adelaide",
    "Kraków", "Zürich", "Malmö", "Århus", "São Paulo", "Córdoba", "Göteborg", "Reykjavík", "Łódź", "Nürnberg",
};
inline const char* const kDomains[] = {
    "gmail.com", "gmail.com", "gmail.com", "gmail.com", "gmail.com", "gmail.com", "yahoo.com", "yahoo.com",
    "hotmail.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "proton.me", "web.de", "gmx.de",
    "orange.fr", "free.fr", "btinternet.com", "comcast.net", "libero.it", "t-online.de", "yandex.ru", "mail.ru",
    "acme-corp.com", "globex.com", "initech.com", "umbrella.co.uk", "stark-industries.com", "wayne-enterprises.com",
    "example.edu", "uni-hamburg.de", "ox.ac.uk", "mit.edu", "sky.com", "virginmedia.com", "telia.se", "ziggo.nl",
};

// Index into a table of n, skewed towards the front (u² of a uniform u).
inline size_t Skewed(std::mt19937_64& rng, size_t n) {
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  return std::min(n - 1, static_cast<size_t>(u * u * static_cast<double>(n)));
}

inline std::string Digits(std::mt19937_64& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng() % 10));
  return s;
}

// One edit of `s` at a position in [from, to): insert, delete, substitute or
// transpose adjacent characters. ASCII positions only, so UTF-8 stays valid.
inline std::string Typo(std::mt19937_64& rng, std::string s, size_t from, size_t to) {
  if (to <= from + 1) return s + static_cast<char>('a' + rng() % 26);
  for (int attempt = 0; attempt < 8; ++attempt) {
    size_t i = from + rng() % (to - from - 1);
    if (static_cast<unsigned char>(s[i]) >= 0x80 || static_cast<unsigned char>(s[i + 1]) >= 0x80) continue;
    if (s[i] == '@' || s[i + 1] == '@') continue;
    char letter = static_cast<char>('a' + rng() % 26);
    switch (rng() % 4) {
      case 0: s.insert(i, 1, letter); break;
      case 1: s.erase(i, 1); break;
      case 2: s[i] = letter == s[i] ? (letter == 'z' ? 'a' : letter + 1) : letter; break;
      default:
        if (s[i] == s[i + 1]) continue;
        std::swap(s[i], s[i + 1]);
        break;
    }
    return s;
  }
  return s;
}

inline std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

struct Person {
  std::string first, last, email_local, email_domain, phone_e164_digits, city;
  int country = 0;  // 0 US, 1 UK, 2 DE
};

inline std::string FormatPhone(std::mt19937_64& rng, const Person& p) {
  const std::string& d = p.phone_e164_digits;  // country code + national number
  if (p.country == 0) {  // +1 NPA NXX XXXX
    std::string n = d.substr(1);
    switch (rng() % 4) {
      case 0: return "+1 " + n.substr(0, 3) + "-" + n.substr(3, 3) + "-" + n.substr(6);
      case 1: return "(" + n.substr(0, 3) + ") " + n.substr(3, 3) + "-" + n.substr(6);
      case 2: return "1." + n.substr(0, 3) + "." + n.substr(3, 3) + "." + n.substr(6);
      default: return "+" + d;
    }
  }
  size_t cc = 2;
  std::string n = d.substr(cc);
  switch (rng() % 3) {
    case 0: return "+" + d.substr(0, cc) + " " + n.substr(0, 3) + " " + n.substr(3);
    case 1: return "00" + d.substr(0, cc) + " (0)" + n.substr(0, 4) + " " + n.substr(4);
    default: return "+" + d;
  }
}

}  // namespace synthetic_detail

inline std::vector<SyntheticProfile> GeneratePeople(const SyntheticConfig& config) {
  using namespace synthetic_detail;
  std::mt19937_64 rng(config.seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<SyntheticProfile> out;
  out.reserve(config.profiles + 2);
  std::unordered_set<std::string> emails;
  emails.reserve(config.profiles);
  uint32_t next_person = 0;
  uint64_t next_profile = 0;
  auto device = [&] { return Digits(rng, 16); };
  const identity::NormalizeConfig nc;

  auto new_person = [&](const Person* family) {
    Person p;
    const Name& first = kFirstNames[Skewed(rng, std::size(kFirstNames))];
    const Name& last = family ? Name{nullptr, nullptr} : kLastNames[Skewed(rng, std::size(kLastNames))];
    p.first = first.display;
    p.last = family ? family->last : last.display;
    std::string f = first.ascii;
    std::string l = family ? std::string() : last.ascii;
    if (family) {
      p.email_local = family->email_local;
      p.email_domain = family->email_domain;
      p.city = family->city;
      p.country = family->country;
      if (u(rng) < 0.5) p.phone_e164_digits = family->phone_e164_digits;  // the landline
    } else {
      p.email_domain = kDomains[rng() % std::size(kDomains)];
      switch (rng() % 6) {
        case 0: p.email_local = f + "." + l; break;
        case 1: p.email_local = f + l; break;
        case 2: p.email_local = f.substr(0, 1) + l; break;
        case 3: p.email_local = f + l + Digits(rng, 2); break;
        case 4: p.email_local = f + "_" + l + std::to_string(1950 + rng() % 56); break;
        default: p.email_local = l + "." + f + Digits(rng, 1); break;
      }
      // Addresses are unique per mailbox: a taken one gets digits, as providers make people do.
      while (true) {
        auto norm = identity::NormalizeEmail(p.email_local + "@" + p.email_domain, nc);
        if (norm.ok() && emails.insert(*norm).second) break;
        p.email_local += Digits(rng, 1);
      }
      p.city = kCities[Skewed(rng, std::size(kCities))];
      p.country = static_cast<int>(rng() % 3);
    }
    if (p.phone_e164_digits.empty() && u(rng) < 0.6) {
      if (p.country == 0) p.phone_e164_digits = "1" + std::to_string(2 + rng() % 8) + Digits(rng, 9);
      if (p.country == 1) p.phone_e164_digits = "44" + std::to_string(1 + rng() % 8) + Digits(rng, 9);
      if (p.country == 2) p.phone_e164_digits = "49" + std::to_string(1 + rng() % 9) + Digits(rng, 9);
    }
    return p;
  };

  auto profile_of = [&](const Person& p, uint32_t person, bool duplicate) {
    SyntheticProfile s;
    s.person = person;
    s.record.id = "p" + std::to_string(next_profile++);
    std::string local = p.email_local;
    std::string domain = p.email_domain;
    std::string first = p.first, last = p.last;
    if (duplicate) {
      double e = u(rng);
      if (e < 0.40) {  // a typo: local part mostly, sometimes the domain
        if (u(rng) < 0.85) {
          local = Typo(rng, local, 0, local.size());
        } else {
          domain = Typo(rng, domain, 0, domain.find('.'));
        }
      } else if (e < 0.55) {
        local = Upper(local);
      } else if (e < 0.70 && domain == "gmail.com") {
        if (local.size() > 3) local.insert(1 + rng() % (local.size() - 2), ".");
        local += "+shop";
        if (u(rng) < 0.3) domain = "googlemail.com";
      }
      double n = u(rng);
      if (n < 0.25) {
        if (u(rng) < 0.5) first = Typo(rng, first, 0, first.size()); else last = Typo(rng, last, 0, last.size());
      } else if (n < 0.40) {
        first = Upper(first);
        last = "  " + last;
      }
    }
    s.record.email = local + "@" + domain;
    s.record.name = first + " " + last;
    if (!p.phone_e164_digits.empty() && (!duplicate || u(rng) < 0.5)) s.record.phone = FormatPhone(rng, p);
    if (!duplicate || u(rng) < 0.85) s.record.city = p.city;
    s.record.device = device();
    return s;
  };

  while (out.size() < config.profiles) {
    uint32_t id = next_person++;
    Person p = new_person(nullptr);
    SyntheticProfile first = profile_of(p, id, false);
    out.push_back(first);
    if (u(rng) < config.duplicate_rate) {
      int copies = u(rng) < 0.8 ? 1 : 2;
      for (int c = 0; c < copies; ++c) {
        SyntheticProfile dup = profile_of(p, id, true);
        if (u(rng) < 0.25) dup.record.device = first.record.device;
        out.push_back(std::move(dup));
      }
    }
    if (u(rng) < config.family_rate) {
      Person relative = new_person(&p);
      if (relative.first != p.first) out.push_back(profile_of(relative, next_person++, false));
    }
  }
  out.resize(config.profiles);
  return out;
}

// Pairwise confusion of auto-merges against the truth.
struct Confusion {
  uint64_t true_positive = 0, false_positive = 0, false_negative = 0;
  double precision() const {
    uint64_t d = true_positive + false_positive;
    return d == 0 ? 1.0 : static_cast<double>(true_positive) / static_cast<double>(d);
  }
  double recall() const {
    uint64_t d = true_positive + false_negative;
    return d == 0 ? 1.0 : static_cast<double>(true_positive) / static_cast<double>(d);
  }
};

}  // namespace sluice::testing
