#!/bin/sh
# Unpack Debian's Graphviz into a folder, without installing it system wide, and write a
# `dot` wrapper there: torchview renders only through a `dot` on PATH.
#
#   sh bench/local_graphviz.sh /tmp/gv && PATH=/tmp/gv/bin:$PATH python bench/run.py
set -eu
dest=$(realpath -m "${1:?usage: local_graphviz.sh DIR}")
mkdir -p "$dest/debs" "$dest/root" "$dest/bin"
cd "$dest/debs"
apt-get download graphviz libcdt5 libcgraph6 libgvc6 libgvpr2 liblab-gamut1 libpathplan4 \
    libxdot4 libgts-0.7-5 libltdl7 libann0 libxaw7 libxmu6 libxt6
for f in *.deb; do dpkg -x "$f" "$dest/root"; done
lib="$dest/root/usr/lib/x86_64-linux-gnu"
cat > "$dest/bin/dot" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export GVBINDIR="$lib/graphviz"
exec "$dest/root/usr/bin/dot" "\$@"
WRAP
chmod +x "$dest/bin/dot"
"$dest/bin/dot" -c
"$dest/bin/dot" -V
