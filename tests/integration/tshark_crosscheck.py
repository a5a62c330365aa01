#!/usr/bin/env python3
"""Cross-checks isdas's decoder against an independent one, Wireshark's tshark: for every
event isdas produces from the given captures, the packet with the same timestamp must have,
in tshark's dissection, the same addresses, ports, TCP flags, TTL/hop limit, IP id and ICMP
type. Every capture given must contain packets with distinct timestamps.
  tshark_crosscheck.py ISDAS CAPTURE..."""
import csv, io, subprocess, sys

FIELDS = ['frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.srcport',
          'udp.srcport', 'tcp.dstport', 'udp.dstport', 'tcp.flags', 'ip.ttl', 'ipv6.hlim',
          'icmp.type', 'icmpv6.type', 'ip.id']
FLAG_BITS = 'FSRPAUEC'


def tshark(path):
    cmd = ['tshark', '-n', '-r', path, '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE',
           '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f']
    for f in FIELDS:
        cmd += ['-e', f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split('\t')))
        sec, _, frac = v['frame.time_epoch'].partition('.')
        us = int(sec) * 1000000 + int((frac + '000000')[:6])
        if us in rows:
            raise SystemExit(f'{path}: two packets at {us} µs: cannot match by time')
        rows[us] = v
    return rows


def us_of(ts):  # 2026-11-26T00:00:00.001500Z
    import datetime
    d = datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000000 + d.microsecond


def main():
    isdas, caps = sys.argv[1], sys.argv[2:]
    checked = 0
    errors = []
    for cap in caps:
        ours = subprocess.run([isdas, 'decode', cap, '--format', 'csv'], capture_output=True,
                              text=True)
        if ours.returncode not in (0,):
            errors.append(f'{cap}: isdas exit {ours.returncode}: {ours.stderr.strip()}')
            continue
        theirs = tshark(cap)
        for ev in csv.DictReader(io.StringIO(ours.stdout)):
            us = us_of(ev['ts'])
            t = theirs.get(us)
            where = f'{cap} @ {ev["ts"]}'
            if t is None:
                errors.append(f'{where}: tshark has no packet at this time')
                continue
            v6 = ':' in ev['src']
            want = {
                'src': t['ipv6.src'] if v6 else t['ip.src'],
                'dst': t['ipv6.dst'] if v6 else t['ip.dst'],
                'ttl': t['ipv6.hlim'] if v6 else t['ip.ttl'],
            }
            got = {'src': ev['src'], 'dst': ev['dst'], 'ttl': ev['ttl']}
            if not v6:
                want['ip_id'] = str(int(t['ip.id'], 16))
                got['ip_id'] = ev['ip_id']
            whole = ev['fragment'] == ''
            if ev['proto'] == 'tcp' and whole:
                want['sport'], want['dport'] = t['tcp.srcport'], t['tcp.dstport']
                flags = int(t['tcp.flags'], 16) & 0xff
                want['tcp_flags'] = ''.join(c for i, c in enumerate(FLAG_BITS) if flags >> i & 1)
                got.update(sport=ev['sport'], dport=ev['dport'], tcp_flags=ev['tcp_flags'])
            if ev['proto'] == 'udp' and whole:
                want['sport'], want['dport'] = t['udp.srcport'], t['udp.dstport']
                got.update(sport=ev['sport'], dport=ev['dport'])
            if ev['proto'] in ('icmp', 'icmp6') and whole:
                want['icmp_type'] = t['icmpv6.type'] if v6 else t['icmp.type']
                got['icmp_type'] = ev['icmp_type']
            if want != got:
                errors.append(f'{where}: isdas {got} != tshark {want}')
            checked += 1
    for e in errors[:20]:
        print('MISMATCH', e, file=sys.stderr)
    print(f'tshark cross-check: {checked} events compared, {len(errors)} mismatches')
    sys.exit(1 if errors or checked == 0 else 0)


main()
