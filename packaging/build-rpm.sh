#!/bin/bash
# Build packaging/out/faultd-<version>-1.<dist>.<arch>.rpm from packaging/rpm/faultd.spec.
#
# Only where rpmbuild exists: elsewhere it says so and exits 0. On a host
# whose own packages are not RPMs (e.g. Debian with the `rpm` package, for
# checking the spec) BuildRequires cannot be checked and --nodeps is added.
# Environment: OUT (default packaging/out), RPMBUILD_FLAGS (extra flags, e.g.
# --define "faultd_wheelhouse /path" or --define "faultd_python /usr/bin/python3.12").
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/packaging/out}

if ! command -v rpmbuild >/dev/null; then
    echo "build-rpm: rpmbuild not found; skipping the RPM (install rpm-build on a RHEL-family host)"
    exit 0
fi

VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/faultd/__init__.py")
[ -n "$VERSION" ] || { echo "build-rpm: cannot read __version__" >&2; exit 1; }
[ -f "$REPO/etc/faultd.yaml" ] || { echo "build-rpm: etc/faultd.yaml missing" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/faultd-rpm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TOP="$WORK/rpmbuild"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS} "$WORK/faultd-$VERSION"

# Source tarball: tracked files plus new files that are not ignored.
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -xf - -C "$WORK/faultd-$VERSION"
tar -C "$WORK" -czf "$TOP/SOURCES/faultd-$VERSION.tar.gz" "faultd-$VERSION"

# Our own pip cache, as in build-deb.sh: no wheels compiled by another interpreter.
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faultd-rpm/pip}
FLAGS=()
if ! rpm -q --quiet rpm 2>/dev/null; then
    echo "build-rpm: not an RPM-based host; BuildRequires not checked (--nodeps)"
    FLAGS+=(--nodeps)
fi
# shellcheck disable=SC2086 # RPMBUILD_FLAGS is meant to split
rpmbuild -bb "${FLAGS[@]}" --define "_topdir $TOP" --define "faultd_version $VERSION" \
    ${RPMBUILD_FLAGS:-} "$REPO/packaging/rpm/faultd.spec"

mkdir -p "$OUT"
for rpm in "$TOP"/RPMS/*/faultd-*.rpm; do
    cp "$rpm" "$OUT/"
    echo "build-rpm: wrote $OUT/$(basename "$rpm")"
done
