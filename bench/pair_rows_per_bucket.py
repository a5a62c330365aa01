#!/usr/bin/env python3
"""Rows per 5-minute bucket of bench/store_ingest.cc's traffic, by family.

The same distributions as store_ingest's generator (200,000 sources with fixed country, kind,
tool and research flag; Zipf-like sources s=1.1 and ports s=1.05 over 65,536; 80 % TCP, 10 %
UDP, 10 % ICMP), Python's random in place of mt19937: a 5-minute bucket at 2,000 packets/s is
600,000 events. Prints the distinct port, port x country and port x flags rows (with the filter
dimensions) against the counts the port pairs take, which is what decides whether counting
them in 5-minute tables and folding those into the day's saves work (docs/rollups.md).

    python3 bench/pair_rows_per_bucket.py [EVENTS]   (default 600000; ~10 s)
"""
import random
import sys


def zipf(n, s):
    a = 1 - s
    x = (random.random() * (n ** a - 1) + 1) ** (1 / a)
    return min(n - 1, int(x) - 1)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600000
    random.seed(1)
    sources = 200000
    cc = [min(11, int(abs(random.gauss(0, 1)) * 3)) for _ in range(sources)]
    kind = [1 if random.randrange(100) < 8 else 0 for _ in range(sources)]

    def tool():
        t = random.randrange(100)
        return 0 if t < 60 else 1 if t < 85 else 3 if t < 92 else 2 if t < 97 else 4

    tools = [tool() for _ in range(sources)]
    research = [1 if random.randrange(50) == 0 else 0 for _ in range(sources)]
    port_rows, pc_rows, pf_rows = set(), set(), set()
    pair_counts = 0
    for _ in range(n):
        s = zipf(sources, 1.1)
        r = random.randrange(10)
        proto = 6 if r < 8 else 17 if r < 9 else 1
        if proto == 1:
            continue
        p = zipf(65536, 1.05)
        dims = (proto, kind[s], tools[s], research[s])
        port_rows.add((p,) + dims)
        pc_rows.add((p, cc[s]) + dims)
        pair_counts += 1
        if proto == 6:
            pf_rows.add((p, kind[s]) + dims)  # the flags follow the kind (SYN or SYN-ACK)
            pair_counts += 1
    pairs = len(pc_rows) + len(pf_rows)
    print(f"events {n} port_rows {len(port_rows)} port_country_rows {len(pc_rows)} "
          f"port_flags_rows {len(pf_rows)} pair_counts {pair_counts} "
          f"pair_rows_per_count {pairs / pair_counts:.2f}")


if __name__ == "__main__":
    main()
