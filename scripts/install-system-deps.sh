#!/usr/bin/env bash
# System (Debian/Ubuntu) packages that the tests and tools need beyond `uv sync`.
#
# Idempotent: packages already installed are skipped, and apt is not touched at all when
# nothing is missing. Used by developers and by CI; run as root (or through sudo).
#
#   scripts/install-system-deps.sh            # every section
#   scripts/install-system-deps.sh rtsp       # only the named sections
#
# Each section is one array below; add new system dependencies as a new section (and its
# name to SECTIONS) rather than to an existing one, so that every package says why it is here.
set -euo pipefail

# --- rtsp: the RTSP test server (scripts/rtsp_server.py, run by the system python3) ------
# GStreamer's RTSP server with its GObject bindings, and the elements of the serving
# pipeline: qtdemux and rtph264pay (good), h264parse (bad), the base plugins they link to.
RTSP_PACKAGES=(
    python3
    python3-gi
    gir1.2-gstreamer-1.0
    gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
)

# --- browser: the web console's end-to-end tests (tests/ui/, Playwright) ----------------
# Debian's Chromium, driven by Playwright with executable_path=/usr/bin/chromium (Playwright's
# own browser download does not work offline), and fonts for legible screenshots (Chromium
# only recommends them, and recommends are not installed here).
BROWSER_PACKAGES=(
    chromium
    fonts-dejavu-core
    fonts-liberation
)

# --- cluster: the MQTT broker of the scale-out tests (tests/cluster/, marker `cluster`) ------
# Debian's Mosquitto, started by the tests on 127.0.0.1 with a throw-away config; the
# PostgreSQL + pgvector server of those tests comes from the `pgserver` wheel (uv's dev group).
CLUSTER_PACKAGES=(
    mosquitto
)

SECTIONS=(rtsp browser cluster)

packages_of() {
    case "$1" in
        rtsp) printf '%s\n' "${RTSP_PACKAGES[@]}" ;;
        browser) printf '%s\n' "${BROWSER_PACKAGES[@]}" ;;
        cluster) printf '%s\n' "${CLUSTER_PACKAGES[@]}" ;;
        *)
            echo "unknown section: $1 (known: ${SECTIONS[*]})" >&2
            return 1
            ;;
    esac
}

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

main() {
    local requested=("$@")
    if [[ ${#requested[@]} -eq 0 ]]; then
        requested=("${SECTIONS[@]}")
    fi

    local missing=() section package
    for section in "${requested[@]}"; do
        # Checked apart: a failure inside the process substitution below would go unnoticed.
        packages_of "$section" >/dev/null
    done
    for section in "${requested[@]}"; do
        while read -r package; do
            if ! is_installed "$package"; then
                missing+=("$package")
            fi
        done < <(packages_of "$section")
    done

    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "system dependencies already installed (${requested[*]})"
        return 0
    fi

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends \
        "${missing[@]}"
}

main "$@"
