#!/usr/bin/env bash
# Builds the benchmark corpus of real images from Debian packages: the packages are
# downloaded (not installed) with `apt-get download` and unpacked into a cache, and the
# files named below are copied into "$1" (default target/optimizer-corpus) as
#   photos/<package>--<name>     31 photographs (the bench turns each into a <= 2 MP
#                                 camera-style JPEG at quality 92)
#   graphics/<package>--<name>   19 PNGs as shipped: logos, icons, artwork, screenshots
# Where each file comes from and under which licence: optimizer/bench/SOURCES.md.
# Needs apt-get and dpkg-deb (Debian 12 names; another release may version them differently).
set -euo pipefail
out="${1:-target/optimizer-corpus}"
cache="${CORPUS_CACHE:-${TMPDIR:-/tmp}/optimizer-corpus-debs}"
packages="plasma-workspace-wallpapers mate-backgrounds python3-skimage desktop-base gnome-user-docs oxygen-icon-theme"
mkdir -p "$cache" "$out/photos" "$out/graphics"
cd "$cache"
for p in $packages; do
    if [ ! -d "x/$p" ]; then
        ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
        mkdir -p "x/$p"
        dpkg-deb -x "${p}"_*.deb "x/$p"
    fi
done
cd - >/dev/null
take() { # take KIND PACKAGE PATH...
    local kind=$1 pkg=$2
    shift 2
    for f in "$@"; do
        local src="$cache/x/$pkg/$f"
        local name
        name="$pkg--$(echo "$f" | sed -e 's#^usr/share/wallpapers/##' -e 's#/contents/images/#-#' -e 's#.*/\([^/]*/[^/]*\)$#\1#' -e 's#/#-#')"
        cp -L "$src" "$out/$kind/$name"
    done
}
plasma=""
for w in Autumn BytheWater ColdRipple DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut PastelHills Path summer_1am; do
    plasma="$plasma usr/share/wallpapers/$w/contents/images/1600x1200.jpg"
done
take photos plasma-workspace-wallpapers $plasma usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg
mate=""
for m in Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm TwoWings Wood YellowFlower; do
    mate="$mate usr/share/backgrounds/mate/nature/$m.jpg"
done
take photos mate-backgrounds $mate
skd=usr/lib/python3/dist-packages/skimage/data
take photos python3-skimage $skd/astronaut.png $skd/chelsea.png $skd/coffee.png $skd/rocket.jpg \
    $skd/motorcycle_left.png $skd/hubble_deep_field.jpg
take graphics python3-skimage $skd/logo.png
db=usr/share
take graphics desktop-base $db/plymouth/themes/spacefun/logo.png $db/plymouth/themes/spacefun/swirlaxy.png \
    $db/plymouth/themes/spacefun/earth0.png $db/plymouth/themes/lines/logo.png \
    $db/plymouth/themes/emerald/glow.png $db/desktop-base/emerald-theme/grub/grub-4x3.png \
    $db/plymouth/themes/joy/background.png
gh=usr/share/help/C/gnome-help/figures
take graphics gnome-user-docs $gh/shell-exit-expanded.png $gh/color-space.png $gh/shell-appts.png \
    $gh/shell-workspaces.png
ox=usr/share/icons/oxygen/base/256x256/apps
take graphics oxygen-icon-theme $ox/accessories-calculator.png $ox/digikam.png $ox/k3b.png \
    $ox/kmail2.png $ox/konqueror.png $ox/internet-web-browser.png
echo "corpus: $(ls "$out/photos" | wc -l) photos, $(ls "$out/graphics" | wc -l) graphics in $out"
