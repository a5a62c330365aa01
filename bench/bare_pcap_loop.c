/* The speed floor for issue #2's benchmark: a bare libpcap pcap_next_ex loop that decodes
 * only the IPv4 5-tuple and TCP flags of Ethernet frames (no IPv6, no VLAN, no validation
 * beyond bounds), and sums them so the compiler cannot drop the work.
 *   bare_pcap_loop FILE */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char** argv) {
  char err[PCAP_ERRBUF_SIZE];
  if (argc != 2) {
    fprintf(stderr, "usage: bare_pcap_loop FILE\n");
    return 64;
  }
  pcap_t* p = pcap_open_offline(argv[1], err);
  if (!p) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  struct pcap_pkthdr* h;
  const u_char* d;
  uint64_t packets = 0, ipv4 = 0, sum = 0;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
    ++packets;
    if (h->caplen < 34 || d[12] != 0x08 || d[13] != 0x00) continue;
    const u_char* ip = d + 14;
    const unsigned ihl = (ip[0] & 0x0f) * 4u;
    const uint32_t src = (uint32_t)ip[12] << 24 | ip[13] << 16 | ip[14] << 8 | ip[15];
    const uint32_t dst = (uint32_t)ip[16] << 24 | ip[17] << 16 | ip[18] << 8 | ip[19];
    const uint8_t proto = ip[9];
    uint16_t sport = 0, dport = 0;
    uint8_t flags = 0;
    if ((proto == 6 || proto == 17) && h->caplen >= 14 + ihl + 4) {
      sport = (uint16_t)(ip[ihl] << 8 | ip[ihl + 1]);
      dport = (uint16_t)(ip[ihl + 2] << 8 | ip[ihl + 3]);
      if (proto == 6 && h->caplen >= 14 + ihl + 14) flags = ip[ihl + 13];
    }
    ++ipv4;
    sum += src ^ dst ^ proto ^ sport ^ dport ^ flags;
  }
  if (rc == PCAP_ERROR) fprintf(stderr, "%s\n", pcap_geterr(p));
  printf("packets: %llu\nipv4: %llu\nchecksum: %llu\n", (unsigned long long)packets,
         (unsigned long long)ipv4, (unsigned long long)sum);
  pcap_close(p);
  return 0;
}
