#!/usr/bin/env bash
# Fetches the pinned GeoIP data from the npm registry into third_party/geo/ (not committed):
#   @ip-location-db/geo-whois-asn-country-mmdb  country MMDB (package: CC0-1.0; data CC BY 4.0)
#   @ip-location-db/asn                         AS ranges as CSV (CC BY 4.0; attribution below)
# Attribution: RouteViews, DB-IP (https://db-ip.com) and the NRO; see third_party/geo/*LICENSE*.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.3.2026061719
dir=third_party/geo
if [ -f "$dir/VERSION" ] && [ "$(cat "$dir/VERSION")" = "$version" ]; then exit 0; fi
command -v npm >/dev/null || {
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q npm >/dev/null
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" &&
  npm pack --silent "@ip-location-db/geo-whois-asn-country-mmdb@$version" >/dev/null &&
  npm pack --silent "@ip-location-db/asn@$version" >/dev/null)
mkdir -p "$dir"
tar -xzf "$tmp"/ip-location-db-geo-whois-asn-country-mmdb-$version.tgz -C "$tmp"
cp "$tmp"/package/geo-whois-asn-country.mmdb "$dir/"
cp "$tmp"/package/NRO_LICENSE "$dir/country-NRO_LICENSE"
rm -rf "$tmp/package"
tar -xzf "$tmp"/ip-location-db-asn-$version.tgz -C "$tmp"
cp "$tmp"/package/asn-ipv4.csv "$tmp"/package/asn-ipv6.csv "$dir/"
for f in "$tmp"/package/*LICENSE*; do cp "$f" "$dir/asn-$(basename "$f")"; done
echo "$version" >"$dir/VERSION"
echo "fetch-geo: ip-location-db $version in $dir" >&2
