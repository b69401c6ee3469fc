#!/bin/bash
# Build packaging/out/faultd_<version>-<revision>_<arch>.deb with dpkg-deb.
#
# The package carries a self-contained virtualenv at /opt/faultd made with the
# system's python3.11 (symlinked, not copied: security updates of python3.11
# apply to faultd too). A venv is not relocatable, so it is made in a staging
# root and then fixed up for /opt/faultd:
#   - the venv is created at $STAGE/opt/faultd and everything is installed
#     with pip --no-compile (no bytecode recording the staging path);
#   - every text file mentioning the staging path (console-script shebangs,
#     activate scripts, pyvenv.cfg) is rewritten to /opt/faultd, and the build
#     fails if the staging path is left anywhere in the tree;
#   - bytecode is then compiled with compileall -s/-p so tracebacks name
#     /opt/faultd/..., in checked-hash mode (valid whatever the file mtimes).
# This needs no root, no chroot and no free /opt/faultd on the build host.
#
# Build host needs: dpkg-dev (dpkg-deb), python3.11 + python3.11-venv,
# python3.11-dev, gcc, pkg-config, libsystemd-dev (systemd-python has no
# wheels and is compiled), git, and PyPI access (or a warm pip cache).
#
# Environment: FAULTD_CONFIG (default etc/faultd.yaml) is shipped as
# /etc/faultd/faultd.yaml; DEB_REVISION (default 1); OUT (default
# packaging/out); PYTHON (default /usr/bin/python3.11); MAINTAINER.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG="$REPO/packaging/debian"
OUT=${OUT:-$REPO/packaging/out}
PYTHON=${PYTHON:-/usr/bin/python3.11}
PREFIX=/opt/faultd
FAULTD_CONFIG=${FAULTD_CONFIG:-$REPO/etc/faultd.yaml}
DEB_REVISION=${DEB_REVISION:-1}
MAINTAINER=${MAINTAINER:-faultd maintainers <faultd-maintainers@example.org>}

die() { echo "build-deb: $*" >&2; exit 1; }

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg-dev)"
[ -x "$PYTHON" ] || die "$PYTHON not found (apt-get install python3.11 python3.11-venv)"
[ -f "$FAULTD_CONFIG" ] || die "config $FAULTD_CONFIG missing (set FAULTD_CONFIG=...)"

UPSTREAM=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/faultd/__init__.py")
[ -n "$UPSTREAM" ] || die "cannot read __version__ from faultd/__init__.py"
VERSION="$UPSTREAM-$DEB_REVISION"
ARCH=$(dpkg --print-architecture)
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
DEB="$OUT/faultd_${VERSION}_${ARCH}.deb"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/faultd-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/root"
VENV="$STAGE$PREFIX"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# A cache of our own: pip's shared wheel cache may hold wheels compiled by
# another interpreter (e.g. a pyenv build, whose RUNPATH would then be shipped).
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faultd-deb/pip}

echo "build-deb: faultd $VERSION ($ARCH, python$PYVER)"

# 1. Source: what git tracks plus new files not ignored (never build/, .venv,
#    caches), copied so the build writes nothing into the work tree.
mkdir -p "$WORK/src"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
    COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
else
    tar -C "$REPO" --exclude=.venv --exclude=packaging/out -cf - . | tar -xf - -C "$WORK/src"
    COMMIT=unknown
fi

# 2. The venv, at its staging place, and everything in it.
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip wheel -q --no-deps -w "$WORK/wheels" "$WORK/src"
WHEEL=$(ls "$WORK"/wheels/faultd-*.whl)
"$VENV/bin/python" -m pip install -q --no-compile --use-pep517 "${WHEEL}[systemd]"
# pip and setuptools are build tools: not shipped.
"$VENV/bin/python" -m pip uninstall -q -y pip setuptools
rm -f "$VENV"/bin/Activate.ps1 "$VENV"/bin/activate.csh "$VENV"/bin/activate.fish
find "$VENV" -name __pycache__ -prune -exec rm -rf {} +
find "$VENV" -name .DS_Store -delete
# Debian strips shared objects; the wheels' debug symbols are of no use here.
if command -v strip >/dev/null; then
    find "$VENV" -type f -name '*.so*' -exec strip --strip-unneeded --remove-section=.comment {} +
fi
find "$VENV" -type d -empty -delete

# 3. Relocate: rewrite the staging path in text files, then prove it is gone.
grep -rlIF --null "$STAGE" "$VENV" | xargs -0 -r sed -i "s|$STAGE||g"
if grep -rlaF "$STAGE" "$STAGE" >"$WORK/leftover"; then
    cat "$WORK/leftover" >&2
    die "staging path left in the files above"
fi
if command -v readelf >/dev/null; then
    find "$VENV" -type f -name '*.so*' -print0 | while IFS= read -r -d '' so; do
        if readelf -d "$so" 2>/dev/null | grep -E 'R(UN)?PATH' | grep -qvF '$ORIGIN'; then
            echo "$so"
        fi
    done >"$WORK/rpaths"
    [ ! -s "$WORK/rpaths" ] || { cat "$WORK/rpaths" >&2; die "build-host RPATH/RUNPATH above"; }
fi
"$VENV/bin/python" -c 'import faultd, systemd.daemon, systemd.journal, uvloop, cryptography
import msgspec, yaml, aiohttp, pysnmp, crc32c' || die "the venv cannot import faultd and its native parts"
"$VENV/bin/python" -m compileall -q -j0 --invalidation-mode checked-hash \
    -s "$STAGE" -p / "$VENV/lib" >/dev/null

# 4. The rest of the file system.
install -d "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/etc/faultd" \
    "$STAGE/usr/share/doc/faultd" "$STAGE/usr/share/lintian/overrides" \
    "$STAGE/usr/share/man/man8"
gzip -9n -c "$PKG/faultd.8" >"$STAGE/usr/share/man/man8/faultd.8.gz"
ln -s "$PREFIX/bin/faultd" "$STAGE/usr/bin/faultd"
install -m 0644 "$REPO/systemd/faultd.service" "$REPO/systemd/faultd.socket" \
    "$STAGE/lib/systemd/system/"
install -m 0640 "$FAULTD_CONFIG" "$STAGE/etc/faultd/faultd.yaml"
DOC="$STAGE/usr/share/doc/faultd"
if [ -f "$REPO/README.md" ]; then
    install -m 0644 "$REPO/README.md" "$DOC/README.md"
    install -m 0644 "$REPO/packaging/README.md" "$DOC/README.packaging.md"
else
    install -m 0644 "$REPO/packaging/README.md" "$DOC/README.md"
fi
install -m 0644 "$PKG/copyright" "$DOC/copyright"
install -m 0644 "$PKG/lintian-overrides" "$STAGE/usr/share/lintian/overrides/faultd"
DATE=${SOURCE_DATE_EPOCH:+@$SOURCE_DATE_EPOCH}
cat >"$WORK/changelog" <<EOF
faultd ($VERSION) unstable; urgency=medium

  * Built from git commit $COMMIT.

 -- $MAINTAINER  $(date -R -d "${DATE:-now}")
EOF
gzip -9n -c "$WORK/changelog" >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"

# 5. Control area.
install -d -m 0755 "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$PKG/$script" "$STAGE/DEBIAN/$script"
done
install -m 0644 "$PKG/conffiles" "$STAGE/DEBIAN/conffiles"
# Modes: directories 0755, files 0644, the venv's own scripts 0755 (find
# -type f: chmod on the bin/python symlinks would reach the host's python).
find "$STAGE/opt" "$STAGE/usr" "$STAGE/lib" -type d -exec chmod 0755 {} +
find "$STAGE/opt" "$STAGE/usr" "$STAGE/lib" -type f -exec chmod 0644 {} +
find "$VENV/bin" -type f ! -name activate -exec chmod 0755 {} +
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@PYVER@|$PYVER|g" \
    -e "s|@INSTALLED_SIZE@|$INSTALLED_SIZE|" \
    -e "s|@MAINTAINER@|$MAINTAINER|" "$PKG/control.in" >"$STAGE/DEBIAN/control"

mkdir -p "$OUT"
# xz for release packages; tests set FAULTD_DEB_COMPRESSION=gzip (same contents,
# minutes less on a 2-core builder).
dpkg-deb "-Z${FAULTD_DEB_COMPRESSION:-xz}" --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "build-deb: wrote $DEB ($(du -h "$DEB" | cut -f1))"

if command -v lintian >/dev/null && [ "${LINTIAN:-1}" = 1 ]; then
    lintian --info --display-info --no-tag-display-limit "$DEB" || true
fi
