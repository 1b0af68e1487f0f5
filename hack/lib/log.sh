# shellcheck shell=bash
# log and die for every hack/ script (sourced, not executed): one line on stderr, with the
# caller's LOG_PREFIX (if it sets one) and the seconds since the script started.
log() { printf '[%s%4ss] %s\n' "${LOG_PREFIX:+$LOG_PREFIX }" "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
