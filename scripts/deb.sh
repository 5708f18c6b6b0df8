#!/usr/bin/env bash
# make deb: dist/dmrec_VERSION_ARCH.deb from what the build made (no network): the
# executable, the man page, the completion scripts, the systemd unit and its defaults,
# with the maintainer scripts of packaging/.
#   scripts/deb.sh DEB_ARCH EXECUTABLE     (amd64 dist/dmrec, or arm64 dist/dmrec-arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$1
exe=$2
version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' package.json)
[ -n "$version" ] || { echo "deb.sh: no version in package.json" >&2; exit 1; }
out=dist/dmrec_${version}_${arch}.deb

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$exe" "$root/usr/bin/dmrec"
install -d -m 0755 "$root/usr/share/man/man1"
gzip -9n < dist/dmrec.1 > "$root/usr/share/man/man1/dmrec.1.gz"
install -D -m 0644 dist/completions/dmrec.bash "$root/usr/share/bash-completion/completions/dmrec"
install -D -m 0644 dist/completions/_dmrec "$root/usr/share/zsh/vendor-completions/_dmrec"
install -D -m 0644 packaging/dmrec.service "$root/lib/systemd/system/dmrec.service"
install -D -m 0644 packaging/dmrec.default "$root/etc/default/dmrec"
install -D -m 0644 packaging/copyright "$root/usr/share/doc/dmrec/copyright"
chmod 0755 "$root" "$root"/usr "$root"/usr/* "$root"/etc "$root"/lib "$root"/lib/*

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/control > "$root/DEBIAN/control"
echo /etc/default/dmrec > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "packaging/$s" "$root/DEBIAN/$s"; done

dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" >/dev/null
echo "$out"
