#!/usr/bin/env bash
# Hostile arguments for every function of cfrec (see test/fuzz), as TAP:
# each function's calls must work or raise an ERROR with a message, none may
# take the server down, and the postmaster log must show no backend
# terminated by a signal.  Needs the PG* variables of a running cluster
# (test/run exports them) and a superuser; bounded to 60 seconds.
set -u
cd "${CFREC_SRCDIR:-$(dirname "${BASH_SOURCE[0]}")/../..}" || exit 1
exec perl test/fuzz --tap --seconds 60
