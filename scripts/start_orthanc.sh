#!/usr/bin/env bash
# Start a private Orthanc (DICOMweb at http://127.0.0.1:HTTP_PORT/dicom-web) in the foreground.
#   scripts/start_orthanc.sh WORKDIR [HTTP_PORT (8042)] [DICOM_PORT (0 = DICOM server off)]
# WORKDIR receives orthanc.json and the database; only loopback clients are accepted
# (RemoteAccessAllowed false), no authentication. Install Orthanc first:
# scripts/install_orthanc.sh. Used by tests/test_monailabel_dicomweb.py.
set -euo pipefail

WORK=${1:?usage: start_orthanc.sh WORKDIR [HTTP_PORT] [DICOM_PORT]}
HTTP_PORT=${2:-8042}
DICOM_PORT=${3:-0}
BIN=${ORTHANC_BIN:-$(command -v Orthanc || echo /usr/sbin/Orthanc)}
PLUGIN=${ORTHANC_DICOMWEB_PLUGIN:-}
if [ -z "$PLUGIN" ]; then
    for p in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
        if [ -e "$p" ]; then PLUGIN=$p; break; fi
    done
fi
[ -x "$BIN" ] || { echo "start_orthanc: Orthanc not found (run scripts/install_orthanc.sh)" >&2; exit 3; }
[ -n "$PLUGIN" ] && [ -e "$PLUGIN" ] || { echo "start_orthanc: DICOMweb plugin not found" >&2; exit 3; }

mkdir -p "$WORK/db"
WORK=$(cd "$WORK" && pwd)
if [ "$DICOM_PORT" = 0 ]; then DICOM_ENABLED=false; DICOM_PORT=4242; else DICOM_ENABLED=true; fi
cat > "$WORK/orthanc.json" <<JSON
{
  "Name": "cephmark",
  "StorageDirectory": "$WORK/db",
  "IndexDirectory": "$WORK/db",
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "HttpPort": $HTTP_PORT,
  "DicomServerEnabled": $DICOM_ENABLED,
  "DicomPort": $DICOM_PORT,
  "Plugins": ["$PLUGIN"],
  "DicomWeb": {
    "Enable": true,
    "Root": "/dicom-web/",
    "EnableWado": true,
    "WadoRoot": "/wado",
    "Ssl": false,
    "StudiesMetadata": "Full",
    "SeriesMetadata": "Full"
  }
}
JSON
exec "$BIN" "$WORK/orthanc.json"
