// The compiled form of an Expression, shared by Expression::Evaluate (names
// resolved through a ValueResolver) and the feature compiler (names resolved
// to event paths once, at load). Private to the stream part.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stream/stream.h"

namespace sluice::stream {

// The comparison behind ==, <, …: kinds that compare, and how.
// Returns false when `a` and `b` do not compare (then only != holds).
bool CompareValues(const Value& a, const Value& b, int* order);
bool ValuesEqual(const Value& a, const Value& b);

struct Expression::Compiled {
  enum class Op : uint8_t { kLiteral, kName, kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kAnd, kOr, kNot };
  // kLiteral: literals[index]; kName: names[index]; comparisons, and, or: a, b;
  // not: a; in: a is the operand, its list is literals[index, index + count).
  struct Node {
    Op op;
    int32_t a = -1;
    int32_t b = -1;
    uint32_t index = 0;
    uint32_t count = 0;
  };
  std::vector<Node> nodes;
  int32_t root = -1;
  std::vector<Value> literals;
  std::vector<std::string> names;
  std::string text;

  // Lookup(size_t name_index) -> const Value&.
  template <typename Lookup>
  bool Test(int32_t n, const Lookup& lookup) const {
    const Node& node = nodes[n];
    switch (node.op) {
      case Op::kLiteral:
      case Op::kName: {
        const Value& v = node.op == Op::kLiteral ? literals[node.index] : lookup(node.index);
        return v.kind == ValueKind::kBool && v.boolean;
      }
      case Op::kAnd: return Test(node.a, lookup) && Test(node.b, lookup);
      case Op::kOr: return Test(node.a, lookup) || Test(node.b, lookup);
      case Op::kNot: return !Test(node.a, lookup);
      case Op::kEq:
      case Op::kNe: {
        Value sa, sb;
        bool eq = ValuesEqual(Operand(node.a, lookup, &sa), Operand(node.b, lookup, &sb));
        return node.op == Op::kEq ? eq : !eq;
      }
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        Value sa, sb;
        int order = 0;
        if (!CompareValues(Operand(node.a, lookup, &sa), Operand(node.b, lookup, &sb), &order)) return false;
        switch (node.op) {
          case Op::kLt: return order < 0;
          case Op::kLe: return order <= 0;
          case Op::kGt: return order > 0;
          default: return order >= 0;
        }
      }
      case Op::kIn:
      case Op::kNotIn: {
        Value scratch;
        const Value& v = Operand(node.a, lookup, &scratch);
        bool found = false;
        for (uint32_t i = node.index; i < node.index + node.count && !found; ++i) found = ValuesEqual(v, literals[i]);
        return node.op == Op::kIn ? found : !found;
      }
    }
    return false;
  }

  // The value of an operand; a boolean sub-expression yields a Bool in `scratch`.
  template <typename Lookup>
  const Value& Operand(int32_t n, const Lookup& lookup, Value* scratch) const {
    const Node& node = nodes[n];
    if (node.op == Op::kLiteral) return literals[node.index];
    if (node.op == Op::kName) return lookup(node.index);
    *scratch = Value::Bool(Test(n, lookup));
    return *scratch;
  }
};

}  // namespace sluice::stream
