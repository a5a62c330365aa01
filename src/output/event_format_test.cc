// The CSV and JSON forms of an event against the model's description of its number fields
// (model/event_fields.h): every field has its column, by name, holding its value.

#include "output/event_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "model/event_fields.h"

namespace isdas::output {
namespace {

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

model::Event Sample() {
  model::Event e;
  e.ts_us = 1700000000123456;
  e.proto = 6;
  e.src = model::IpAddr::V4(0xcb007101);
  e.dst = model::IpAddr::V4(0xc6120001);
  e.sport = 40000;
  e.dport = 23;
  uint32_t v = 3;
  for (const model::NumberField& f : model::kNumberFields) {
    if (f.text == model::FieldText::kDecimal) f.set(e, v += 7);
  }
  e.tcp_flags = 0x12;
  e.flags = model::kFlagIpOptions | model::kFlagFragment;
  return e;
}

TEST(EventFormat, CsvHasAColumnForEveryNumberField) {
  const model::Event e = Sample();
  std::string line;
  AppendCsv(e, &line);
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  const std::vector<std::string> head = Split(CsvHeader()), cells = Split(line);
  ASSERT_EQ(head.size(), cells.size()) << CsvHeader() << "\n" << line;
  auto cell = [&](const std::string& name) {
    for (size_t i = 0; i < head.size(); ++i) {
      if (head[i] == name) return cells[i];
    }
    ADD_FAILURE() << "no column " << name;
    return std::string();
  };
  for (const model::NumberField& f : model::kNumberFields) {
    if (f.text == model::FieldText::kDecimal) {
      EXPECT_EQ(cell(std::string(f.name)), std::to_string(f.get(e))) << f.name;
    }
  }
  EXPECT_EQ(cell("tcp_flags"), "SA");
  EXPECT_EQ(cell("ip_options"), "1");
  EXPECT_EQ(cell("fragment"), "first");
  EXPECT_EQ(cell("dport"), "23");
}

TEST(EventFormat, JsonHasAKeyForEveryNumberField) {
  const model::Event e = Sample();
  std::string line;
  AppendJson(e, &line);
  const auto j = nlohmann::json::parse(line);
  for (const model::NumberField& f : model::kNumberFields) {
    if (f.text == model::FieldText::kDecimal) {
      ASSERT_TRUE(j.contains(std::string(f.name))) << f.name;
      EXPECT_EQ(j[std::string(f.name)].get<uint64_t>(), f.get(e)) << f.name;
    }
  }
  EXPECT_EQ(j["tcp_flags"], "SA");
  EXPECT_EQ(j["ip_options"], true);
  EXPECT_EQ(j["fragment"], "first");
  EXPECT_EQ(j["src"], "203.0.113.1");
}

// "No port" is printed as nothing (CSV) or null (JSON), never as port 0: a non-first fragment
// has no transport header, ICMP no ports; a TCP packet to port 0 keeps its 0.
TEST(EventFormat, PacketsWithoutPortsHaveNoPortNotPortZero) {
  model::Event frag = Sample();
  frag.proto = model::kProtoUdp;
  frag.flags = model::kFlagFragment | model::kFlagNonFirstFragment;
  frag.sport = frag.dport = 0;
  model::Event icmp = Sample();
  icmp.proto = model::kProtoIcmp;
  icmp.flags = 0;
  icmp.sport = icmp.dport = 0;
  model::Event zero = Sample();
  zero.dport = 0;
  const std::vector<std::string> head = Split(CsvHeader());
  auto cell = [&](const model::Event& e, const std::string& name) {
    std::string line;
    AppendCsv(e, &line);
    line.pop_back();
    const std::vector<std::string> cells = Split(line);
    for (size_t i = 0; i < head.size(); ++i) {
      if (head[i] == name) return cells.at(i);
    }
    return std::string("?");
  };
  auto json = [](const model::Event& e) {
    std::string line;
    AppendJson(e, &line);
    return nlohmann::json::parse(line);
  };
  for (const model::Event* e : {&frag, &icmp}) {
    EXPECT_EQ(cell(*e, "sport"), "");
    EXPECT_EQ(cell(*e, "dport"), "");
    EXPECT_TRUE(json(*e)["sport"].is_null());
    EXPECT_TRUE(json(*e)["dport"].is_null());
  }
  EXPECT_EQ(cell(zero, "dport"), "0");
  EXPECT_EQ(json(zero)["dport"], 0);
  EXPECT_EQ(cell(zero, "sport"), "40000");
}

}  // namespace
}  // namespace isdas::output
