// Google Benchmark micro-benchmarks of the per-packet path: decode alone, decode + classify,
// for the packet shapes a darknet sees most. Whole-process comparisons with other tools are in
// decode_bench.sh.

#include <benchmark/benchmark.h>

#include "classify/classifier.h"
#include "decode/decoder.h"
#include "synth/packet_builder.h"

namespace {

using namespace isdas::synth;  // NOLINT

Bytes MiraiSyn() {
  Ip4Spec ip;
  ip.src = Ip4(198, 51, 100, 23);
  ip.dst = Ip4(198, 19, 4, 20);
  TcpSpec t;
  t.dport = 23;
  t.seq = ip.dst;
  return Ether(0x0800, Ipv4(ip, Tcp(t)));
}

Bytes V6WithExtensions() {
  Ip6Spec s;
  s.src = Ip6("2001:db8::1");
  s.dst = Ip6("2001:db8:2::1");
  s.next = 0;
  Bytes chain = Ipv6Ext(60, 0);
  Bytes d = Ipv6Ext(6, 0);
  Bytes tcp = Tcp(TcpSpec{});
  chain.insert(chain.end(), d.begin(), d.end());
  chain.insert(chain.end(), tcp.begin(), tcp.end());
  return Ether(0x86dd, Ipv6(s, chain));
}

void BM_Decode(benchmark::State& state, Bytes frame) {
  isdas::model::Event ev;
  for (auto _ : state) {
    auto o = isdas::decode::DecodePacket(1, frame.data(), frame.size(), frame.size(), &ev);
    benchmark::DoNotOptimize(o);
    benchmark::DoNotOptimize(ev);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DecodeClassify(benchmark::State& state, Bytes frame) {
  isdas::model::Event ev;
  for (auto _ : state) {
    isdas::decode::DecodePacket(1, frame.data(), frame.size(), frame.size(), &ev);
    isdas::classify::Classify(&ev);
    benchmark::DoNotOptimize(ev);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Decode, mirai_syn_ipv4, MiraiSyn());
BENCHMARK_CAPTURE(BM_Decode, ipv6_two_ext_headers, V6WithExtensions());
BENCHMARK_CAPTURE(BM_DecodeClassify, mirai_syn_ipv4, MiraiSyn());
BENCHMARK_CAPTURE(BM_DecodeClassify, ipv6_two_ext_headers, V6WithExtensions());

}  // namespace

BENCHMARK_MAIN();
