#!/usr/bin/env bash
# Install MathJax 3 for the book's offline math (issue 9): the HTML serves MathJax itself instead of
# loading it from a CDN. Files land in _mathjax/_static/mathjax/ (ignored by git); _config.yml copies
# that folder into the HTML output (html_extra_path) and points mathjax_path at it.
#
# Source, in order: the npm registry (`npm pack mathjax@3`); without npm, the same MathJax files from
# the PyPI wheel of sphinx-mathjax-offline (downloaded with pip, unpacked here, never installed).
# Idempotent: does nothing when the wanted version is already in place.
set -eo pipefail
cd "$(dirname "$0")/.."
MATHJAX_VERSION="${MATHJAX_VERSION:-3.2.2}"
DEST="_mathjax/_static/mathjax"
PIP="${PIP:-.venv/bin/python -m pip}"
FROM="${MATHJAX_FROM:-auto}"   # auto | npm | pip

if [[ -f "$DEST/VERSION" && "$(cat "$DEST/VERSION")" == "$MATHJAX_VERSION" && -f "$DEST/tex-mml-chtml.js" ]]; then
    echo "MathJax $MATHJAX_VERSION already in $DEST"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [[ "$FROM" != pip ]] && command -v npm >/dev/null 2>&1 && (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null 2>&1); then
    tar -xzf "$tmp"/mathjax-*.tgz -C "$tmp"
    src="$tmp/package/es5"
    license="$tmp/package/LICENSE"
    how="npm (mathjax@$MATHJAX_VERSION)"
elif [[ "$FROM" != npm ]] && $PIP download --quiet --no-deps --dest "$tmp" "sphinx-mathjax-offline==0.0.2" >/dev/null 2>&1; then
    # sphinx-mathjax-offline 0.0.2 ships MathJax 3.2.2's es5 tree under static/mathjax.
    MATHJAX_VERSION=3.2.2
    (cd "$tmp" && python3 -m zipfile -e sphinx_mathjax_offline-*.whl wheel)
    src="$tmp/wheel/sphinx-mathjax-offline/static/mathjax"
    license=""
    how="pip (MathJax 3.2.2 from the sphinx-mathjax-offline wheel)"
else
    echo "install_mathjax: could not get MathJax: no npm (or it failed) and pip could not download" >&2
    echo "  sphinx-mathjax-offline. Install Node.js/npm or check network access to PyPI, then rerun" >&2
    echo "  tools/install_mathjax.sh. Without it the book's formulas need the internet to render." >&2
    exit 1
fi

rm -rf "$DEST"
mkdir -p "$DEST/output/chtml/fonts" "$DEST/input/tex"
# The combined TeX+MathML -> CHTML component, the TeX extensions it autoloads (\boldsymbol, ...),
# the CHTML web fonts, and the menu / accessibility modules it loads lazily.
cp "$src/tex-mml-chtml.js" "$DEST/"
cp -r "$src/input/tex/extensions" "$DEST/input/tex/"
cp -r "$src/output/chtml/fonts/woff-v2" "$DEST/output/chtml/fonts/"
cp -r "$src/a11y" "$src/ui" "$DEST/"
[[ -n "$license" && -f "$license" ]] && cp "$license" "$DEST/LICENSE"
echo "$MATHJAX_VERSION" > "$DEST/VERSION"
echo "MathJax $MATHJAX_VERSION installed in $DEST via $how ($(du -sh "$DEST" | cut -f1))"
