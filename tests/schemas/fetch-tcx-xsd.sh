#!/usr/bin/env bash
# Garmin's TrainingCenterDatabase v2 schema, for the TCX export test.
#
# Where it comes from: Garmin publishes it at
#   https://www8.garmin.com/xmlschemas/TrainingCenterDatabasev2.xsd
# Debian ships that file in the `pytrainer` package
# (/usr/share/pytrainer/schemas/GarminTrainingCenterDatabase_v2.xsd), which a
# fresh machine can reach through apt. We take the file out of the package
# (without installing pytrainer or its GTK dependencies) into tests/schemas/,
# where the test looks for it. Nothing of it is committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/TrainingCenterDatabasev2.xsd"
[ -s "$target" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq pytrainer >/dev/null 2>&1 || (apt-get update -qq && apt-get download -qq pytrainer))
dpkg-deb -x "$work"/pytrainer_*.deb "$work/x"
cp "$work/x/usr/share/pytrainer/schemas/GarminTrainingCenterDatabase_v2.xsd" "$target"
echo "fetched $target (from Debian's pytrainer package)"
