#!/usr/bin/env bash
# Builds the Debian package: target/debian/njia_<version>_<arch>.deb, with dpkg-deb (no tool to
# install; `cargo deb` would need one). Layout:
#   /usr/bin/njia                          the server and the admin commands
#   /lib/systemd/system/njia.service       the hardened unit (DynamicUser, StateDirectory=njia)
#   /etc/njia/njia.toml                    settings (a conffile: an edited one survives upgrades)
#   /etc/njia/menus, /etc/njia/locales     what administrators edit: copied from /usr/share/njia
#                                          at the first install, never overwritten after
#   /usr/share/njia/{menus,locales}        the shipped menus and locales of this version
#   /usr/share/njia/deploy/{prometheus,grafana}  alert rules and the dashboard
#   /var/lib/njia                          the store (made by systemd, or by postinst)
#
#   deploy/debian/build.sh [BINARY]        (default: builds target/release/njia)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --quiet --bin njia
    bin=$target/release/njia
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
pkg=$root/njia
install -D -m 0755 "$bin" "$pkg/usr/bin/njia"
strip --strip-debug "$pkg/usr/bin/njia" 2>/dev/null || true
install -D -m 0644 deploy/debian/njia.service "$pkg/lib/systemd/system/njia.service"
install -D -m 0644 deploy/debian/njia.toml "$pkg/etc/njia/njia.toml"
mkdir -p "$pkg/usr/share/njia" "$pkg/usr/share/doc/njia"
cp -r menus locales "$pkg/usr/share/njia/"
# The alert rules and the dashboard an operator loads into Prometheus and Grafana.
mkdir -p "$pkg/usr/share/njia/deploy"
cp -r deploy/prometheus deploy/grafana "$pkg/usr/share/njia/deploy/"
install -m 0644 README.md ARCHITECTURE.md "$pkg/usr/share/doc/njia/"
install -m 0644 deploy/debian/copyright "$pkg/usr/share/doc/njia/copyright"
mkdir -p "$pkg/DEBIAN"
for script in postinst postrm; do install -m 0755 "deploy/debian/$script" "$pkg/DEBIAN/$script"; done
echo /etc/njia/njia.toml >"$pkg/DEBIAN/conffiles"
size=$(du -sk "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: njia
Version: $version
Architecture: $arch
Maintainer: Njia maintainers <njia@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.31)
Section: net
Priority: optional
Description: USSD and SMS channel server for government services
 Njia answers telcos' USSD hops over HTTP (Africa's Talking, Safaricom, Airtel, Hubtel,
 Arkesel, Nalo, Beem, Infobip), walks menus kept as data in Swahili and English, and hands
 completed requests durably to M-Pesa and agency backends, answering citizens by SMS.
CONTROL
mkdir -p "$target/debian"
out=$target/debian/njia_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$pkg" "$out" >/dev/null
echo "$out"
