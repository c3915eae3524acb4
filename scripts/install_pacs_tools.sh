#!/usr/bin/env bash
# Install the Debian tools the PACS/OHIF tests use: dcmtk (compresses DICOM fixtures), dicom3tools
# (dciodvfy validates the SR we write), chromium + a font (headless OHIF test, driven by playwright
# from pip with executable_path=/usr/bin/chromium: no browser download). Idempotent.
# Needs root (or sudo) and access to the Debian archive.
set -euo pipefail

need=()
command -v dcmcjpeg >/dev/null 2>&1 || need+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
    echo "install_pacs_tools: dcmtk, dicom3tools, chromium already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install_pacs_tools: run as root (or install sudo)" >&2; exit 1; }
    SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || { echo "install_pacs_tools: apt-get not found (Debian/Ubuntu only); install ${need[*]} yourself" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"
for bin in dcmcjpeg dciodvfy chromium; do
    command -v "$bin" >/dev/null 2>&1 || { echo "install_pacs_tools: $bin missing after install" >&2; exit 1; }
done
echo "install_pacs_tools: installed ${need[*]}"
