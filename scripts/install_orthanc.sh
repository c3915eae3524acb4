#!/usr/bin/env bash
# Install Orthanc and its DICOMweb plugin from Debian (used by the MONAI Label DICOMweb test
# and for trying the app against a local PACS). Idempotent: does nothing when both are present.
# Needs root (or sudo) and access to the Debian archive; the Orthanc service is not started
# (tests start their own instance from a temporary config, see tests/orthanc_helper.py).
set -euo pipefail

PLUGIN_DIRS=(/usr/share/orthanc/plugins /usr/lib/orthanc/plugins)

have_plugin() {
    local d
    for d in "${PLUGIN_DIRS[@]}"; do
        [ -e "$d/libOrthancDicomWeb.so" ] && return 0
    done
    return 1
}

if command -v Orthanc >/dev/null 2>&1 && have_plugin; then
    echo "install_orthanc: Orthanc $(Orthanc --version 2>/dev/null | head -n1 | awk '{print $NF}') and the DICOMweb plugin are already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install_orthanc: run as root (or install sudo)" >&2; exit 1; }
    SUDO="sudo"
fi

command -v apt-get >/dev/null 2>&1 || { echo "install_orthanc: apt-get not found (Debian/Ubuntu only); install Orthanc and its DICOMweb plugin yourself" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# policy-rc.d keeps the package's init script from starting a system-wide Orthanc
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED_POLICY=1
fi
cleanup() { if [ "$CREATED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get install -y --no-install-recommends orthanc orthanc-dicomweb

command -v Orthanc >/dev/null 2>&1 || { echo "install_orthanc: Orthanc binary missing after install" >&2; exit 1; }
have_plugin || { echo "install_orthanc: libOrthancDicomWeb.so missing after install" >&2; exit 1; }
echo "install_orthanc: installed $(Orthanc --version 2>/dev/null | head -n1)"
